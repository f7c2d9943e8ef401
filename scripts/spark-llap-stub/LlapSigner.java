// An empty stand-in for Hive's LLAP signer interface, compiled by scripts/spark onto the test
// Thrift server's class path. Spark 4's jars leave Hive's LLAP classes out, but Hive's
// FunctionRegistry registers a function whose class implements LlapSigner.Signable: without it the
// registry cannot initialise, and the server hangs closing sessions (see scripts/spark).
package org.apache.hadoop.hive.llap.security;

public interface LlapSigner {
  interface Signable {}
}
