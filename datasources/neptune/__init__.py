"""Neptune (Gremlin): the recommendation graph, reached through gremlinpython.

Locally the same traversals run on Apache TinkerPop Gremlin Server (mk/gremlin.mk); every call
goes through one `Resilience` named "Neptune", so failures surface as `Neptune:<Reason>`.

    settings.py   NeptuneSettings (CG_NEPTUNE_*)      graph.py       vertices, edges, upserts
    client.py     pooled client, off the event loop   sigv4.py       IAM handshake, re-signing
    recommendations.py  the four traversals           projection.py  records -> upserts, batches
    rebuild.py    the graph rebuilt from DynamoDB     local.py       Gremlin Server for make run
"""

# The name every error and metric of this source carries; here rather than in client.py so
# that naming the source does not load its SDK.
SOURCE = "Neptune"
