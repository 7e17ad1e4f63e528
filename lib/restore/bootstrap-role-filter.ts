import { Transform, type TransformCallback } from 'node:stream';

/** A statement the filter turned into a comment, with the dump line it stood on. */
export interface SkippedStatement {
  line: number;
  statement: string;
}

/** How a role name appears in a dump: bare when lower-case identifier, else double-quoted. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/**
 * Comments out the bootstrap role's `CREATE ROLE x;` and `ALTER ROLE x WITH … PASSWORD …` in the globals
 * part of a pg_dumpall. On a fresh server that role already exists (so the CREATE fails, and under
 * ON_ERROR_STOP stops the restore), and replaying its ALTER would swap the password the drill connects
 * with for the backup's hash. Every other statement stays, so every other error is a real one.
 *
 * Lines are replaced, never removed, so psql's line numbers still point into the backup file. Only the
 * globals part is read line by line: it ends at the first `\connect`, before any COPY data, and from
 * there bytes pass through untouched.
 */
export function bootstrapRoleFilter(role: string, skipped: SkippedStatement[]): Transform {
  const ident = quoteIdent(role);
  // pg_dump also quotes plain names that are keywords (`"user"`): accept either spelling.
  const spellings = [...new Set([ident, `"${role.replaceAll('"', '""')}"`])];
  const creates = spellings.map((s) => `CREATE ROLE ${s};`);
  const alters = spellings.map((s) => `ALTER ROLE ${s} WITH `);
  let inGlobals = true;
  let partial: Buffer = Buffer.alloc(0);
  let line = 0;
  // Split on the newline byte: it never occurs inside a multi-byte UTF-8 character, so a line's bytes
  // are handed on exactly as read.
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      if (!inGlobals) {
        done(null, chunk);
        return;
      }
      const data = partial.length ? Buffer.concat([partial, chunk]) : chunk;
      const out: Buffer[] = [];
      let start = 0;
      for (let end = data.indexOf(10, start); end >= 0; end = data.indexOf(10, start)) {
        line++;
        const current = data.toString('utf8', start, end);
        if (current.startsWith('\\connect ')) {
          // Globals end here; the rest passes through untouched.
          inGlobals = false;
          out.push(data.subarray(start));
          partial = Buffer.alloc(0);
          done(null, Buffer.concat(out));
          return;
        }
        const alter = alters.find((prefix) => current.startsWith(prefix));
        if (alter || creates.includes(current)) {
          const verb = alter ? 'ALTER' : 'CREATE';
          skipped.push({ line, statement: alter ? `${alter}…` : current });
          out.push(Buffer.from(`-- pg-restore-drill: skipped the bootstrap role's ${verb} ROLE ${ident}\n`));
        } else {
          out.push(data.subarray(start, end + 1));
        }
        start = end + 1;
      }
      partial = Buffer.from(data.subarray(start));
      done(null, Buffer.concat(out));
    },
    flush(done: TransformCallback) {
      done(null, partial);
    },
  });
}
