import { TargetError } from '../errors.ts';
import type { Target } from './target.ts';

/**
 * The targets the drill can restore into: a kind, its phrase in `--target`'s help, and how to load it.
 * Light on purpose: `--help` and config.ts read this file, and a target's module (testcontainers,
 * client-node) is loaded only once that target is chosen. Adding a target is one file and one line here.
 */
export interface TargetEntry {
  readonly kind: string;
  readonly help: string;
  load(): Promise<Target>;
}

export const TARGETS = [
  {
    kind: 'container',
    help: 'testcontainers, tools run inside',
    load: () => import('./container.ts').then((m) => m.containerTarget),
  },
  {
    kind: 'local',
    help: 'throwaway cluster from PostgreSQL binaries',
    load: () => import('./local.ts').then((m) => m.localTarget),
  },
  {
    kind: 'url',
    help: 'an existing server; with --scratch a disposable one, like the CronJob sidecar',
    load: () => import('./url.ts').then((m) => m.urlTarget),
  },
  {
    kind: 'pod',
    help: 'the live database pod of --pod: its own tools through the exec API, canary modes only',
    load: () => import('./pod.ts').then((m) => m.podTarget),
  },
] as const satisfies readonly TargetEntry[];

export type TargetKind = (typeof TARGETS)[number]['kind'];
/** `auto` is no target of its own: start-target.ts chooses container or local. */
export type TargetChoice = 'auto' | TargetKind;
export const TARGET_CHOICES: readonly TargetChoice[] = ['auto', ...TARGETS.map((t) => t.kind)];

/** `--target`'s help line, from the table. */
export const TARGET_HELP = `where to restore: auto (container if an engine answers, else local) | ${TARGETS.map(
  (t) => `${t.kind} (${t.help})`,
).join(' | ')}`;

/** The registry's entry of a kind. */
export function targetEntry(kind: TargetKind): TargetEntry {
  const entry = TARGETS.find((t) => t.kind === kind);
  if (!entry) throw new TargetError(`No target ${kind} in lib/targets/registry.ts.`);
  return entry;
}
