import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/thrown.ts';
import { UnsafeTargetError } from '../errors.ts';
import {
  assertDroppable,
  copyDatabaseName,
  drillMark,
  markedCanary,
  parseDrillMark,
  provenLeftover,
  replacedCanaryName,
} from './databases.ts';

const RUN = '20261130-010203-abcdef';
const allowed = { canary: 'backup_test', createdThisRun: ['drill_20261201_090000_000000'] };

describe('the drop guard', () => {
  it('drops the canary and what the run created, never postgres or the templates', () => {
    expect(() => assertDroppable('backup_test', allowed)).not.toThrow();
    expect(() => assertDroppable('drill_20261201_090000_000000', allowed)).not.toThrow();
    for (const name of ['postgres', 'template0', 'template1']) {
      expect(
        thrown(() => assertDroppable(name, { ...allowed, canary: name, leftovers: true })),
      ).toBeInstanceOf(UnsafeTargetError);
    }
  });

  it('accepts a leftover of an earlier run only when asked to and when its own comment proves it', () => {
    const scratch = copyDatabaseName(RUN);
    const mark = drillMark(RUN, 'scratch', 'backup_test', 'dropped at the end of the run');
    expect(mark).toBe(
      'pg-restore-drill run 20261130-010203-abcdef: scratch restore of backup_test; dropped at the end of the run',
    );
    expect(() => assertDroppable(scratch, { ...allowed, leftovers: true }, mark)).not.toThrow();
    // Not asked to, no comment, another comment, or a mark that names another database: refused.
    for (const [leftovers, comment] of [
      [false, mark],
      [true, null],
      [true, 'pg-restore-drill run 20261130-010203-abcdef'],
      [true, `${mark.replace('scratch restore of', 'the canary it replaced,')}`],
    ] as const) {
      expect(thrown(() => assertDroppable(scratch, { ...allowed, leftovers }, comment))).toMatchObject({
        code: 'DRILL_UNSAFE_TARGET',
        message: `Refusing to drop ${scratch}: the drill drops only its canary (backup_test), the databases it created in this run, and leftovers of earlier runs whose comment proves them the drill's.`,
      });
    }
    expect(() => assertDroppable('drill_anything', { ...allowed, leftovers: true }, mark)).toThrow(
      UnsafeTargetError,
    );
  });

  it('reads back the run and role of a mark, and proves the replaced canary by its _old name', () => {
    const replaced = drillMark(RUN, 'replaced', 'backup_test', 'dropped right after the swap');
    expect(parseDrillMark(replaced)).toEqual({ runId: RUN, role: 'replaced' });
    expect(provenLeftover(replacedCanaryName(RUN), replaced)).toEqual({ runId: RUN, role: 'replaced' });
    expect(provenLeftover(copyDatabaseName(RUN), replaced)).toBeUndefined();
    expect(parseDrillMark('the operator says: do not touch')).toBeUndefined();
    expect(markedCanary(replaced)).toBe('backup_test');
    expect(markedCanary(drillMark(RUN, 'scratch', 'other; canary', 'dropped at the end'))).toBe(
      'other; canary',
    );
    expect(markedCanary('the operator says: do not touch')).toBeUndefined();
  });
});
