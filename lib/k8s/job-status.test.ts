import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { exitCodeFromStatus, parsePodRef } from '../exec/pod.ts';
import { ciJobName, randomSuffix } from './job-from-cronjob.ts';
import { describePodState, jobEnd } from './job-status.ts';

const NOW = new Date('2026-11-24T03:10:00.000Z');

describe('ciJobName', () => {
  it('is the CronJob name, ci, the UTC time and a random suffix', () => {
    expect(ciJobName('pg-restore-drill', NOW, 'x7k2p')).toBe('pg-restore-drill-ci-20261124031000-x7k2p');
    expect(ciJobName('pg-restore-drill', NOW)).toMatch(/^pg-restore-drill-ci-20261124031000-[a-z0-9]{5}$/);
    expect(randomSuffix()).toMatch(/^[a-z0-9]{5}$/);
  });

  it('cuts a long CronJob name so the Job name stays within 63 characters', () => {
    const name = ciJobName(`${'a'.repeat(36)}-${'b'.repeat(30)}`, NOW, 'x7k2p');
    expect(name).toBe(`${'a'.repeat(36)}-bb-ci-20261124031000-x7k2p`);
    expect(name.length).toBe(63);
    expect(ciJobName(`${'a'.repeat(38)}-bbbb`, NOW, 'x7k2p')).toBe(
      `${'a'.repeat(38)}-ci-20261124031000-x7k2p`,
    );
  });
});

describe('jobEnd', () => {
  it('waits for Complete or Failed, not for SuccessCriteriaMet or FailureTarget', () => {
    const job = (conditions: { type: string; status: string; reason?: string; message?: string }[]) =>
      ({ status: { conditions } }) as V1Job;
    expect(jobEnd(job([{ type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded' }]))).toBe(
      undefined,
    );
    expect(jobEnd(job([{ type: 'Complete', status: 'False' }]))).toBe(undefined);
    expect(
      jobEnd(
        job([
          { type: 'FailureTarget', status: 'True', reason: 'DeadlineExceeded' },
          {
            type: 'Failed',
            status: 'True',
            reason: 'DeadlineExceeded',
            message: 'Job was active longer than specified deadline',
          },
        ]),
      ),
    ).toEqual({
      succeeded: false,
      type: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Job was active longer than specified deadline',
    });
  });
});

describe('describePodState', () => {
  it('names what holds a pending pod: an image that cannot be pulled', () => {
    const pod = {
      status: {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'drill',
            state: {
              waiting: {
                reason: 'ImagePullBackOff',
                message: 'Back-off pulling image "ghcr.io/example/pg-restore-drill:0.1.0"',
              },
            },
          },
        ],
      },
    } as V1Pod;
    expect(describePodState(pod, 'drill')).toBe(
      'Pending: container drill waiting: ImagePullBackOff: Back-off pulling image "ghcr.io/example/pg-restore-drill:0.1.0"',
    );
  });

  it('says nothing of the routine ContainerCreating, and how a container ended', () => {
    const creating = {
      status: {
        phase: 'Pending',
        containerStatuses: [{ name: 'drill', state: { waiting: { reason: 'ContainerCreating' } } }],
      },
    } as V1Pod;
    expect(describePodState(creating, 'drill')).toBe('Pending');
    const oom = {
      status: {
        phase: 'Failed',
        containerStatuses: [{ name: 'drill', state: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }],
      },
    } as V1Pod;
    expect(describePodState(oom, 'drill')).toBe('Failed: container drill exited with code 137 (OOMKilled)');
  });
});

describe('exec status and pod references', () => {
  it('reads the exit code from the status channel', () => {
    expect(exitCodeFromStatus({ status: 'Success' })).toBe(0);
    expect(
      exitCodeFromStatus({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '3' }] },
      }),
    ).toBe(3);
    expect(exitCodeFromStatus({ status: 'Failure', reason: 'InternalError', message: 'no such file' })).toBe(
      undefined,
    );
  });

  it('parses --pod NAMESPACE/POD or POD', () => {
    expect(parsePodRef('data/postgres-postgresql-0', 'default')).toEqual({
      namespace: 'data',
      name: 'postgres-postgresql-0',
      container: 'postgresql',
    });
    expect(parsePodRef('postgres-postgresql-0', 'data', 'pg')).toEqual({
      namespace: 'data',
      name: 'postgres-postgresql-0',
      container: 'pg',
    });
    expect(() => parsePodRef('a/b/c', 'data')).toThrow(
      'Expected --pod to be NAMESPACE/POD or POD, e.g. data/postgres-postgresql-0, got `a/b/c`.',
    );
  });
});
