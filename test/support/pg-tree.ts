import { chmod, copyFile, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A PostgreSQL 15 tree at `root` that offers two extensions the system lacks: bin copied (the
 * server finds share/ and lib/ relative to its own binary), lib and share linked, and share/extension a
 * directory of links plus the SQL-only extensions `drill_probe` (`SELECT drill_probe()` is 42) and
 * `drill_config` (a configuration table, `public.drill_config`, dumped `WHERE id > 10`). The
 * caller makes `root`'s parents traversable for the server's user. Returns the tree's bin directory.
 */
export async function pgTreeWithExtension(root: string, systemBin: string): Promise<string> {
  const base = join(systemBin, '..'); // /usr/lib/postgresql/15
  const share = join(base, '..', '..', '..', 'share', 'postgresql', '15');
  const bin = join(root, 'lib/postgresql/15/bin');
  await mkdir(bin, { recursive: true });
  for (const tool of ['initdb', 'postgres', 'psql', 'pg_dump', 'pg_dumpall', 'pg_restore']) {
    await copyFile(join(systemBin, tool), join(bin, tool));
    await chmod(join(bin, tool), 0o755);
  }
  await symlink(join(base, 'lib'), join(root, 'lib/postgresql/15/lib'));
  const ourShare = join(root, 'share/postgresql/15');
  await mkdir(join(ourShare, 'extension'), { recursive: true });
  for (const entry of await readdir(share)) {
    if (entry !== 'extension') await symlink(join(share, entry), join(ourShare, entry));
  }
  for (const entry of await readdir(join(share, 'extension'))) {
    await symlink(join(share, 'extension', entry), join(ourShare, 'extension', entry));
  }
  await writeFile(
    join(ourShare, 'extension', 'drill_probe.control'),
    "comment = 'a SQL-only extension the system PostgreSQL lacks'\ndefault_version = '1.0'\nrelocatable = true\n",
  );
  await writeFile(
    join(ourShare, 'extension', 'drill_probe--1.0.sql'),
    'CREATE FUNCTION drill_probe() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;\n',
  );
  // An extension with a configuration table, whose dump holds only the rows its condition selects
  // (pg_extension_config_dump): id 1 comes from the extension's own script, ids over 10 are the user's.
  await writeFile(
    join(ourShare, 'extension', 'drill_config.control'),
    "comment = 'an extension with a configuration table'\ndefault_version = '1.0'\nrelocatable = false\nschema = public\n",
  );
  await writeFile(
    join(ourShare, 'extension', 'drill_config--1.0.sql'),
    [
      'CREATE TABLE @extschema@.drill_config (id int PRIMARY KEY, v text);',
      "INSERT INTO @extschema@.drill_config VALUES (1, 'stock');",
      "SELECT pg_catalog.pg_extension_config_dump('@extschema@.drill_config', 'WHERE id > 10');",
      '',
    ].join('\n'),
  );
  await chmod(root, 0o755);
  for (const dir of [
    'lib',
    'lib/postgresql',
    'lib/postgresql/15',
    'share',
    'share/postgresql',
    'share/postgresql/15',
    'share/postgresql/15/extension',
  ]) {
    await chmod(join(root, dir), 0o755);
  }
  return bin;
}
