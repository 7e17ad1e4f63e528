import type { Readable } from 'node:stream';
import type { BackupFormat, Compression } from './naming.ts';

/** One backup file a source offers. */
export interface BackupCandidate {
  name: string;
  /** Where the file is, for messages and for opening it. */
  path: string;
  /** The time in the file's name: when the backup was taken. */
  takenAt: Date;
  sizeBytes: number;
  format: BackupFormat;
  /** For plain backups: gzip or none. */
  compression: Compression;
}

/** A name that was seen and not used, with the reason. */
export interface PassedOver {
  name: string;
  reason: string;
}

/** What a source holds: candidates newest first, and everything passed over. */
export interface Discovery {
  location: string;
  candidates: BackupCandidate[];
  /** Names that are not backups of ours. */
  ignored: PassedOver[];
  /** Names that look like ours but can never be chosen (impossible timestamp, not a file). */
  rejected: PassedOver[];
}

/** One look at a backup's size and modification time: two differing looks mean it is still being written. */
export interface BackupLook {
  sizeBytes: number;
  mtimeMs: number;
}

/** Where backups come from: a directory today, object storage perhaps later. */
export interface BackupSource {
  readonly location: string;
  discover(): Promise<Discovery>;
  /** Its size and mtime now (a directory-format backup: its files' total and newest mtime). */
  look(candidate: BackupCandidate): Promise<BackupLook>;
  /** The raw bytes of a backup, as stored (still compressed). */
  open(candidate: BackupCandidate): Readable;
}

/** The newest candidate, by the time in its name (never by mtime). */
export function newest(discovery: Discovery): BackupCandidate | undefined {
  return discovery.candidates[0];
}
