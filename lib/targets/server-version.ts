import type pg from 'pg';
import { type PgVersion, versionFromNum } from '../pg/version.ts';

/** The version of the server a client is connected to, from its own `server_version_num`. */
export async function serverVersion(client: pg.ClientBase): Promise<PgVersion> {
  const { rows } = await client.query<{ num: string }>(`SELECT current_setting('server_version_num') AS num`);
  return versionFromNum(Number(rows[0]?.num));
}
