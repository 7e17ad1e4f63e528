/**
 * k8s/ as the cluster gets it, for the manifest tests: `kubectl kustomize` output parsed, and each object
 * checked against the Kubernetes OpenAPI schemas (kubernetes-models, @kubernetes-models/prometheus-operator)
 * and for fields the API does not know (the models of @kubernetes/client-node, generated from the same
 * OpenAPI).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './run-cli.ts';

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
} & Record<string, unknown>;

/** A kubernetes-models class: built from the object, `validate()` throws what the schema rejects. */
type SchemaModel = new (data: Manifest) => { validate(): void };
/** The models type their input; a parsed manifest is plain data, which is exactly what they check. */
const schema = (model: unknown) => (doc: Manifest) => new (model as SchemaModel)(doc).validate();

/** Schema validators by `apiVersion kind`, and the client-node model of built-in kinds. */
const MODELS: Record<string, { validate: (doc: Manifest) => void; clientModel?: string }> = {
  'v1 ServiceAccount': { validate: schema(ServiceAccount), clientModel: 'V1ServiceAccount' },
  'v1 ConfigMap': { validate: schema(ConfigMap), clientModel: 'V1ConfigMap' },
  'batch/v1 CronJob': { validate: schema(CronJob), clientModel: 'V1CronJob' },
  'rbac.authorization.k8s.io/v1 Role': { validate: schema(Role), clientModel: 'V1Role' },
  'rbac.authorization.k8s.io/v1 RoleBinding': { validate: schema(RoleBinding), clientModel: 'V1RoleBinding' },
  'networking.k8s.io/v1 NetworkPolicy': { validate: schema(NetworkPolicy), clientModel: 'V1NetworkPolicy' },
  'monitoring.coreos.com/v1 PrometheusRule': { validate: schema(PrometheusRule) },
};

/** `kubectl kustomize DIR`, parsed. */
export function render(dir: string): { text: string; docs: Manifest[] } {
  const out = spawnSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${out.stderr}`);
  const docs = parseAllDocuments(out.stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  });
  return { text: out.stdout, docs };
}

/** The generated client-node models list their fields: JSON name and type name, e.g. `Array<V1EnvVar>`. */
type ClientModel = { getAttributeTypeMap?: () => { baseName: string; type: string }[] };

/** Paths of fields the Kubernetes API does not define, walking the client-node model of `type`. */
function unknownFields(value: unknown, type: string, path = ''): string[] {
  if (typeof value !== 'object' || value === null) return [];
  const item = /^Array<(.+)>$/.exec(type)?.[1];
  if (item !== undefined && Array.isArray(value)) {
    return value.flatMap((v, i) => unknownFields(v, item, `${path}[${i}]`));
  }
  const entries = Object.entries(value);
  const mapped = /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
  if (mapped !== undefined) return entries.flatMap(([key, v]) => unknownFields(v, mapped, `${path}.${key}`));
  const model = (k8s as unknown as Record<string, ClientModel | undefined>)[type];
  if (!model?.getAttributeTypeMap) return [];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return entries.flatMap(([key, v]) => {
    const fieldType = fields.get(key);
    return fieldType === undefined ? [`${path}.${key}`] : unknownFields(v, fieldType, `${path}.${key}`);
  });
}

export function schemaErrors(doc: Manifest): string[] {
  const model = MODELS[`${doc.apiVersion} ${doc.kind}`];
  if (!model) return [`no schema known for ${doc.apiVersion} ${doc.kind}`];
  try {
    model.validate(doc);
  } catch (error) {
    return [(error as Error).message];
  }
  return model.clientModel ? unknownFields(doc, model.clientModel).map((p) => `unknown field ${p}`) : [];
}

export function find<T = k8s.V1CronJob>(docs: Manifest[], kind: string, name: string): T {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (!doc) throw new Error(`no ${kind}/${name} rendered`);
  return doc as unknown as T;
}

export function podSpec(docs: Manifest[]): k8s.V1PodSpec {
  const spec = find(docs, 'CronJob', 'pg-restore-drill').spec?.jobTemplate.spec?.template.spec;
  if (!spec) throw new Error('the CronJob has no pod spec');
  return spec;
}

export function container(spec: k8s.V1PodSpec, name: string): k8s.V1Container {
  const found = [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}
