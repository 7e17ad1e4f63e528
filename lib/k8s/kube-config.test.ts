import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/thrown.ts';
import { loadKubeConfig } from './kube-config.ts';

let dir: string;
/** Where no service account is mounted, so nothing on this machine leaks into a test. */
let noServiceAccount: string;

function kubeconfig(cluster: string, contexts: { name: string; namespace?: string }[], current?: string) {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `  - name: ${cluster}`,
    `    cluster: { server: 'https://${cluster}.example:6443' }`,
    'users:',
    `  - name: ${cluster}-user`,
    '    user: { token: t }',
    'contexts:',
    ...contexts.map(
      (c) =>
        `  - name: ${c.name}\n    context: { cluster: ${cluster}, user: ${cluster}-user${c.namespace ? `, namespace: ${c.namespace}` : ''} }`,
    ),
    ...(current ? [`current-context: ${current}`] : []),
    '',
  ].join('\n');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-config-test-'));
  noServiceAccount = join(dir, 'no-sa');
  await writeFile(
    join(dir, 'a.yaml'),
    kubeconfig('prod', [{ name: 'prod', namespace: 'databases' }, { name: 'prod-default' }], 'prod'),
  );
  await writeFile(
    join(dir, 'b.yaml'),
    kubeconfig('staging', [{ name: 'staging', namespace: 'stage' }], 'staging'),
  );
  await mkdir(join(dir, 'home', '.kube'), { recursive: true });
  await writeFile(join(dir, 'home', '.kube', 'config'), kubeconfig('home', [{ name: 'home' }], 'home'));
  await mkdir(join(dir, 'sa'));
  await writeFile(join(dir, 'sa', 'token'), 'sa-token');
  await writeFile(join(dir, 'sa', 'namespace'), 'data\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadKubeConfig', () => {
  it('merges KUBECONFIG files from the given env as kubectl does: the first current-context wins', () => {
    const env = {
      KUBECONFIG: [join(dir, 'missing.yaml'), join(dir, 'a.yaml'), join(dir, 'b.yaml')].join(delimiter),
    };
    const loaded = loadKubeConfig({ env, serviceAccountDir: noServiceAccount });
    expect({ ...loaded, kubeConfig: undefined }).toEqual({
      kubeConfig: undefined,
      context: 'prod',
      namespace: 'databases',
      server: 'https://prod.example:6443',
      source: [join(dir, 'a.yaml'), join(dir, 'b.yaml')].join(delimiter),
    });
    expect(loaded.kubeConfig.getContexts().map((c) => c.name)).toEqual(['prod', 'prod-default', 'staging']);
  });

  it('--context picks another context, --namespace beats the context’s, the default is data', () => {
    const env = { KUBECONFIG: [join(dir, 'a.yaml'), join(dir, 'b.yaml')].join(delimiter) };
    const options = { env, serviceAccountDir: noServiceAccount };
    expect(loadKubeConfig({ ...options, context: 'staging' })).toMatchObject({
      context: 'staging',
      namespace: 'stage',
      server: 'https://staging.example:6443',
    });
    expect(loadKubeConfig({ ...options, namespace: 'other' }).namespace).toBe('other');
    expect(loadKubeConfig({ ...options, context: 'prod-default' }).namespace).toBe('data');
    expect(thrown(() => loadKubeConfig({ ...options, context: 'nope' }))).toMatchObject({
      code: 'DRILL_K8S_CONFIG',
      exitCode: 2,
      message: `--context nope: no such context in ${env.KUBECONFIG} (contexts: prod, prod-default, staging).`,
    });
  });

  it('--kubeconfig wins over KUBECONFIG, and must exist', () => {
    const env = { KUBECONFIG: join(dir, 'a.yaml') };
    const options = { env, serviceAccountDir: noServiceAccount };
    expect(loadKubeConfig({ ...options, kubeconfig: join(dir, 'b.yaml') }).context).toBe('staging');
    expect(thrown(() => loadKubeConfig({ ...options, kubeconfig: join(dir, 'none.yaml') }))).toMatchObject({
      code: 'DRILL_K8S_CONFIG',
      message: `--kubeconfig ${join(dir, 'none.yaml')}: no such file.`,
    });
  });

  it('falls back to $HOME/.kube/config from the given env', () => {
    expect(
      loadKubeConfig({ env: { HOME: join(dir, 'home') }, serviceAccountDir: noServiceAccount }),
    ).toMatchObject({ context: 'home', source: join(dir, 'home', '.kube', 'config'), namespace: 'data' });
  });

  it('in a pod, uses the service account: token file, CA, and the namespace file', () => {
    const loaded = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountDir: join(dir, 'sa'),
    });
    expect({ ...loaded, kubeConfig: undefined }).toEqual({
      kubeConfig: undefined,
      context: 'in-cluster',
      namespace: 'data',
      server: 'https://127.0.0.1:443',
      source: 'in-cluster service account',
    });
    expect(loaded.kubeConfig.getCurrentUser()).toMatchObject({
      authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'sa', 'token') } },
    });
    expect(loaded.kubeConfig.getCurrentCluster()?.caFile).toBe(join(dir, 'sa', 'ca.crt'));
  });

  it('says what it looked for when there is nothing to load', () => {
    expect(
      thrown(() =>
        loadKubeConfig({ env: { HOME: join(dir, 'nowhere') }, serviceAccountDir: noServiceAccount }),
      ),
    ).toMatchObject({
      code: 'DRILL_K8S_CONFIG',
      message: `No Kubernetes configuration found: no --kubeconfig, KUBECONFIG is unset, ${join(dir, 'nowhere', '.kube', 'config')} does not exist, and this is not a pod (KUBERNETES_SERVICE_HOST unset or no token in ${noServiceAccount}).`,
    });
  });
});
