import type { V1CronJob } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GATE_FALLBACK_SECONDS, GATE_MARGIN_SECONDS, gateTimeout } from './gate-timeout.ts';

function cronJob(activeDeadlineSeconds?: number, terminationGracePeriodSeconds?: number): V1CronJob {
  return {
    spec: {
      schedule: '0 4 1 */3 *',
      jobTemplate: {
        spec: {
          ...(activeDeadlineSeconds === undefined ? {} : { activeDeadlineSeconds }),
          template: {
            spec: {
              ...(terminationGracePeriodSeconds === undefined ? {} : { terminationGracePeriodSeconds }),
              containers: [{ name: 'drill' }],
            },
          },
        },
      },
    },
  };
}

describe('gateTimeout: the CI gate waits past the Job’s own deadline and grace', () => {
  it('is activeDeadlineSeconds + terminationGracePeriodSeconds + the margin', () => {
    expect(gateTimeout(cronJob(3600, 120), undefined)).toEqual({
      ms: (3600 + 120 + GATE_MARGIN_SECONDS) * 1000,
      why: `${3720 + GATE_MARGIN_SECONDS} s: activeDeadlineSeconds 3600 + terminationGracePeriodSeconds 120 + margin ${GATE_MARGIN_SECONDS}`,
    });
  });

  it('takes Kubernetes’ 30 s grace when the pod sets none', () => {
    expect(gateTimeout(cronJob(900), undefined).ms).toBe((900 + 30 + GATE_MARGIN_SECONDS) * 1000);
  });

  it('falls back, and says how to fix it, when the template has no deadline', () => {
    expect(gateTimeout(cronJob(), undefined)).toEqual({
      ms: GATE_FALLBACK_SECONDS * 1000,
      why: `${GATE_FALLBACK_SECONDS} s: the CronJob's jobTemplate sets no activeDeadlineSeconds (set it, or --cluster-timeout)`,
    });
  });

  it('--cluster-timeout overrides it', () => {
    expect(gateTimeout(cronJob(3600, 30), 600_000)).toEqual({ ms: 600_000, why: '--cluster-timeout 600 s' });
  });
});
