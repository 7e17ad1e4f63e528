import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createDumpLexer, lexerSink } from '../dump/dump-lexer.ts';
import { type DumpedSequence, readSetval } from '../dump/setval.ts';
import type { BackupCandidate, BackupSource } from './backup-source.ts';
import { GUNZIP_CHUNK_BYTES } from './integrity-watch.ts';

/**
 * The setvals of a plain backup, read from the file once more: asked for only when a restored sequence
 * is behind its column and the restore's own stream did not read them (without --verify deep nothing
 * lexes that stream). A pg_dumpall's setvals are filed under the database of their `\connect`; a plain
 * pg_dump's under ''. Archives need none of this: their precheck reads every setval (inspectArchive).
 */
export async function readDumpedSequences(
  backup: BackupCandidate,
  source: BackupSource,
  signal: AbortSignal,
): Promise<DumpedSequence[]> {
  if (backup.format !== 'plain')
    throw new Error(`${backup.name} is an archive: its precheck read its setvals`);
  const sequences: DumpedSequence[] = [];
  const lexer = createDumpLexer({
    line(line) {
      if (line.kind !== 'sql' || !line.startsStatement || line.bytes[line.start] !== 83) return;
      const set = readSetval(line);
      if (set) sequences.push({ database: lexer.database ?? '', ...set });
    },
  });
  const sink = lexerSink(lexer);
  const raw = source.open(backup);
  if (backup.compression === 'gzip')
    await pipeline(raw, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), sink, { signal });
  else await pipeline(raw, sink, { signal });
  return sequences;
}
