// Binds the traversal source `g` without a Groovy init script (see mk/gremlin.mk).
//
// The stock Gremlin Server layout binds `g` from a Groovy script through ScriptFileGremlinPlugin,
// which costs the Groovy script engine's start-up. Bytecode (what gremlinpython sends) needs no
// script engine, so the server runs with `gremlin-lang` only and this manager binds `g` itself.
// Compiled by `make engines-gremlin` into the cache directory; never committed as a class file.
package dev.commercegraph.engines;

import org.apache.tinkerpop.gremlin.server.Settings;
import org.apache.tinkerpop.gremlin.server.util.DefaultGraphManager;

public final class NeptuneLikeGraphManager extends DefaultGraphManager {
    public NeptuneLikeGraphManager(final Settings settings) {
        super(settings);
        putTraversalSource("g", getGraph("graph").traversal());
    }
}
