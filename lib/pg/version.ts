/** PostgreSQL versions: as a dump, a tool's banner or a server states them. */

export interface PgVersion {
  /** As written, e.g. `15.18 (Debian 15.18-0+deb12u1)` trimmed to `15.18`. */
  text: string;
  major: number;
  minor: number;
}

/** Parses `15.18`, `18.1`, `9.6.24`, `18beta1`; majors before 10 count as 9.x → 9. */
export function parseVersion(text: string): PgVersion | undefined {
  const match = /^(\d+)(?:\.(\d+))?/.exec(text);
  if (!match?.[1]) return undefined;
  return { text, major: Number(match[1]), minor: Number(match[2] ?? 0) };
}

/** Parses `server_version_num` (150018 → 15.18; before 10 it is 9.x.y: 90624 → 9.6.24, as parseVersion reads it). */
export function versionFromNum(num: number): PgVersion {
  const major = Math.floor(num / 10000);
  if (major < 10) {
    const minor = Math.floor(num / 100) % 100;
    return { text: `${major}.${minor}.${num % 100}`, major, minor };
  }
  const minor = num % 10000;
  return { text: `${major}.${minor}`, major, minor };
}
