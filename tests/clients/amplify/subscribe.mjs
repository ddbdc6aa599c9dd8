// The AWS Amplify JS v6 client, unchanged, subscribing to onCartUpdated (issue 6).
//
//   node subscribe.mjs --endpoint https://127.0.0.1:PORT/graphql --api-key da2-... \
//       --cart-id crt_... [--events 2] [--timeout 30]
//
// (or CG_ENDPOINT, CG_API_KEY, CG_CART_ID, CG_EVENTS, CG_TIMEOUT_SECONDS). Prints one JSON
// line per thing that happens, on stdout:
//
//   {"event":"connection","state":"Connecting" | "Connected" | ...}   Amplify's Hub
//   {"event":"data","data":{"onCartUpdated":{...}}}                   one per event
//   {"event":"error","error":{...}}                                   the observable's error
//   {"event":"timeout","received":N}
//
// Exit status: 0 once --events events arrived, 1 after an error, 2 on timeout.
//
// Amplify derives the realtime URL from the GraphQL endpoint (@aws-amplify/api-graphql,
// dist/esm/Providers/AWSWebSocketProvider/appsyncUrl.mjs, getRealtimeEndpointUrl): an
// endpoint that is not `https://<26 chars>.appsync-api.<region>.amazonaws.com/graphql` is a
// custom domain, so it appends `/realtime` to it -> `/graphql/realtime`, our path; then it
// replaces `https://` AND `http://` with `wss://`. So Amplify always speaks TLS: the test
// serves the app over HTTPS with a throwaway certificate (NODE_EXTRA_CA_CERTS trusts it).
// The handshake is Amplify v6's: subprotocols `graphql-ws` and `header-<base64url of
// {"host": <endpoint host>, "x-api-key": ...}>`.
//
// The only addition is the WebSocket global, which Node 20 lacks (Node 22 has one): the `ws`
// package's class. Nothing in Amplify is patched.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

globalThis.WebSocket ??= WebSocket;

// Imported after the global is set (static imports would be evaluated first).
const { Amplify } = await import('aws-amplify');
const { generateClient, CONNECTION_STATE_CHANGE } = await import('aws-amplify/api');
const { Hub } = await import('aws-amplify/utils');

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string', default: process.env.CG_ENDPOINT },
    'api-key': { type: 'string', default: process.env.CG_API_KEY },
    'cart-id': { type: 'string', default: process.env.CG_CART_ID },
    events: { type: 'string', default: process.env.CG_EVENTS ?? '1' },
    timeout: { type: 'string', default: process.env.CG_TIMEOUT_SECONDS ?? '30' },
  },
});
for (const name of ['endpoint', 'api-key', 'cart-id']) {
  if (!args[name]) {
    console.error(`subscribe.mjs: --${name} is required`);
    process.exit(64);
  }
}
const wanted = Number(args.events);
const timeoutMs = Number(args.timeout) * 1000;

const ON_CART_UPDATED = /* GraphQL */ `
  subscription OnCartUpdated($cartId: ID!) {
    onCartUpdated(cartId: $cartId) {
      cartId
      cart { id totalQuantity lines { quantity } }
      userErrors { code message }
    }
  }
`;

const emit = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

Amplify.configure({
  API: {
    GraphQL: {
      endpoint: args.endpoint,
      region: 'us-east-1',
      defaultAuthMode: 'apiKey',
      apiKey: args['api-key'],
    },
  },
});

Hub.listen('api', ({ payload }) => {
  if (payload.event === CONNECTION_STATE_CHANGE) {
    emit({ event: 'connection', state: payload.data.connectionState });
  }
});

const client = generateClient();
let received = 0;
let subscription;

const finish = (code) => {
  clearTimeout(timer);
  subscription?.unsubscribe();
  // Let Amplify send `stop` and close the socket before leaving.
  setTimeout(() => process.exit(code), 200);
};

const timer = setTimeout(() => {
  emit({ event: 'timeout', received });
  finish(2);
}, timeoutMs);

subscription = client
  .graphql({ query: ON_CART_UPDATED, variables: { cartId: args['cart-id'] } })
  .subscribe({
    next: ({ data }) => {
      received += 1;
      emit({ event: 'data', data });
      if (received >= wanted) finish(0);
    },
    error: (error) => {
      emit({ event: 'error', error: describe(error) });
      finish(1);
    },
  });

function describe(error) {
  // Amplify hands GraphQL-shaped errors ({errors: [...]}) or Error objects.
  if (error instanceof Error) return { name: error.name, message: error.message };
  try {
    return JSON.parse(JSON.stringify(error));
  } catch {
    return String(error);
  }
}
