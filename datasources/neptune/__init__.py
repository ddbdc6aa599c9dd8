"""Neptune (Gremlin): the recommendation graph, reached through gremlinpython.

Locally the same traversals run on Apache TinkerPop Gremlin Server (mk/gremlin.mk); every call
goes through one `Resilience` named "Neptune", so failures surface as `Neptune:<Reason>`.
"""
