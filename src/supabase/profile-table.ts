/**
 * The profile table's columns, read from the OpenAPI document PostgREST serves at /rest/v1/
 * (each column's `format` is its PostgreSQL type), so the field map is checked against the real
 * table in Supabase API mode too.
 */
import { ConfigError } from '../config/config.ts';
import type { ProfileTable } from '../db/profile-table.ts';
import { keyRefused } from './retry.ts';

interface OpenApiDefinition {
  properties?: Record<string, { format?: string; type?: string; default?: unknown }>;
  required?: string[];
}

export async function readProfileTableOverRest(
  supabaseUrl: string,
  key: string,
  name: string,
  fetchImpl: typeof fetch = fetch,
): Promise<ProfileTable> {
  const [schema, relation] = name.includes('.') ? (name.split('.') as [string, string]) : ['public', name];
  const response = await fetchImpl(new URL('/rest/v1/', supabaseUrl), {
    headers: { apikey: key, authorization: `Bearer ${key}`, 'accept-profile': schema, accept: 'application/openapi+json' },
  });
  if (response.status === 401 || response.status === 403) throw keyRefused(response.status, 'reading the table list');
  if (!response.ok) throw new Error(`PostgREST answered ${response.status} to the table list`);
  const document = (await response.json()) as { definitions?: Record<string, OpenApiDefinition> };
  const definition = document.definitions?.[relation];
  if (definition?.properties === undefined) {
    throw new ConfigError(
      `invalid configuration:\n  PROFILE_TABLE: the table ${name} is not served by the project's API (does it exist, in an exposed schema?)`,
    );
  }
  const columns = Object.entries(definition.properties).map(([column, property]) => ({
    name: column,
    type: (property.format ?? property.type ?? 'text').replace(/\(.*\)$/, ''),
    notNull: definition.required?.includes(column) ?? false,
    hasDefault: property.default !== undefined,
    generated: false,
  }));
  if (columns.find((column) => column.name === 'id')?.type !== 'uuid') {
    throw new ConfigError(
      `invalid configuration:\n  PROFILE_TABLE: ${name} needs an "id uuid" column that is its primary key (or unique), holding the auth.users id`,
    );
  }
  return { name, sqlName: name, columns };
}
