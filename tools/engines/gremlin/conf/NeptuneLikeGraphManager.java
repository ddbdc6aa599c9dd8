// Binds the traversal source `g`, Neptune-like, without a Groovy init script (see mk/gremlin.mk).
//
// The stock Gremlin Server layout binds `g` in a Groovy script through ScriptFileGremlinPlugin,
// which costs the Groovy script engine's start-up; bytecode (what gremlinpython sends) needs no
// script engine, so the server runs with `gremlin-lang` only and this manager binds `g`.
// Groovy is still on the classpath (Gremlin Server links against it), so lambdas would run:
// LambdaRestrictionStrategy refuses them, in bytecode and in scripts, as Neptune does.
// Compiled by `make engines-gremlin` into the cache directory; never committed as a class file.
package dev.commercegraph.engines;

import org.apache.tinkerpop.gremlin.process.traversal.strategy.verification.LambdaRestrictionStrategy;
import org.apache.tinkerpop.gremlin.server.Settings;
import org.apache.tinkerpop.gremlin.server.util.DefaultGraphManager;

public final class NeptuneLikeGraphManager extends DefaultGraphManager {
    public NeptuneLikeGraphManager(final Settings settings) {
        super(settings);
        putTraversalSource(
            "g", getGraph("graph").traversal().withStrategies(LambdaRestrictionStrategy.instance()));
    }
}
