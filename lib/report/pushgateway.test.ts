import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  groupingKeyPath,
  InvalidGroupingLabelError,
  InvalidPushgatewayUrlError,
  parsePushgatewayUrl,
  pushDrillMetrics,
  redactUrl,
} from './pushgateway.ts';

describe('redactUrl', () => {
  it.each([
    ['http://user:pass@host:9091/prefix', 'http://***@host:9091/prefix'],
    ['https://token@host/', 'https://***@host/'],
    ['http://host:9091', 'http://host:9091'],
    ['not a url://user:pass@host', 'not a url://***@host'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toEqual(expected);
  });
});

describe('parsePushgatewayUrl', () => {
  it('accepts http and https URLs with a path prefix', () => {
    expect(parsePushgatewayUrl('https://gw.example:9091/pushgateway').href).toEqual(
      'https://gw.example:9091/pushgateway',
    );
  });

  it.each([
    ['pushgateway:9091', 'has scheme "pushgateway"'],
    ['ftp://user:secret@gw:21', 'has scheme "ftp"'],
    ['gw.monitoring', 'is not a valid URL'],
    ['http://gw:9091/?x=1', 'has a query or fragment'],
    ['http://drill:50%zz@gw:9091', 'has badly percent-encoded credentials'],
  ])('rejects %s naming the setting, the redacted value and what is expected', (value, problem) => {
    let caught: unknown;
    try {
      parsePushgatewayUrl(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidPushgatewayUrlError);
    expect(caught).toMatchObject({
      code: 'DRILL_PUSHGATEWAY_URL_INVALID',
      value: redactUrl(value),
      message:
        `--pushgateway / DRILL_PUSHGATEWAY_URL: "${redactUrl(value)}" ${problem}; expected an http:// or ` +
        'https:// URL of the Pushgateway without query or fragment, e.g. http://pushgateway.monitoring:9091',
    });
  });

  it('never shows credentials of a rejected URL', () => {
    expect(() => parsePushgatewayUrl('ftp://user:secret@gw:21')).toThrow('"ftp://***@gw:21"');
  });
});

describe('groupingKeyPath', () => {
  it('encodes plain values and uses @base64 for "/", empty and dot values', () => {
    expect(
      groupingKeyPath({
        pg_cluster: 'prod',
        target: 'side car',
        path: '/var/tmp',
        empty: '',
        dots: '..',
        utf: 'ü',
      }),
    ).toEqual(
      '/pg_cluster/prod/target/side%20car/path@base64/L3Zhci90bXA=/empty@base64/=/dots@base64/Li4=/utf/%C3%BC',
    );
  });

  it('uses the URL-safe base64 alphabet', () => {
    expect(groupingKeyPath({ v: '/??>' })).toEqual('/v@base64/Lz8_Pg==');
  });

  it.each([
    ['job', 'is reserved'],
    ['instance', 'is reserved'],
    ['phase', 'is reserved'],
    ['__meta', 'is not a valid Prometheus label name'],
    ['1cluster', 'is not a valid Prometheus label name'],
    ['clu-ster', 'is not a valid Prometheus label name'],
  ])('rejects the label name %s', (name, problem) => {
    expect(() => groupingKeyPath({ [name]: 'x' })).toThrow(InvalidGroupingLabelError);
    expect(() => groupingKeyPath({ [name]: 'x' })).toThrow(`Pushgateway grouping label "${name}" ${problem}`);
  });
});

// The pushes themselves, their retries, 5xx, 401, 400, silent and reset answers, run against a real
// Pushgateway (with a fault proxy in front of it) in pushgateway-faults.integration.test.ts.
describe('pushDrillMetrics', () => {
  it('throws for a misconfigured URL before any request', async () => {
    await expect(pushDrillMetrics({ registry: new Registry(), url: 'file:///tmp/x' })).rejects.toThrow(
      InvalidPushgatewayUrlError,
    );
  });
});
