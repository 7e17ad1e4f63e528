// Starts a throwaway cluster, prints its directory, and waits to be killed: the guardian test's victim.
import { startTestCluster } from './cluster.ts';

const target = await startTestCluster();
process.stdout.write(`${target.handle.connection.host}\n`);
setInterval(() => {}, 1 << 30);
