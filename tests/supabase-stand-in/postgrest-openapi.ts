/**
 * The OpenAPI (Swagger 2.0) document PostgREST serves at the root path for the tables of a schema
 * (PostgREST.Response.OpenAPI): definitions with each column's PostgreSQL type as `format`, a
 * Swagger `type`, `required` for NOT NULL columns, defaults and key notes; paths and parameters.
 */
import type { Column, Table } from './postgrest-catalog.ts';

// How column types become Swagger types and formats.
function swaggerType(type: string): string | undefined {
  if (['character varying', 'character', 'text'].includes(type)) return 'string';
  if (type === 'boolean') return 'boolean';
  if (['smallint', 'integer', 'bigint'].includes(type)) return 'integer';
  if (['numeric', 'real', 'double precision'].includes(type)) return 'number';
  if (type === 'json' || type === 'jsonb') return undefined;
  return type.endsWith('[]') ? 'array' : 'string';
}

function swaggerFormat(type: string): string {
  return ({ smallint: 'int32', integer: 'int32', bigint: 'int64' } as Record<string, string>)[type] ?? type;
}

/** A column default as PostgREST shows it: string defaults unquoted and uncast, others only if they are JSON. */
function swaggerDefault(type: string, columnDefault: string): unknown {
  let text = columnDefault;
  if (swaggerType(type) === 'string') {
    const suffix = `::${type}`;
    const uncast = text.endsWith(suffix) ? text.slice(0, -suffix.length).replace(/^'+|'+$/g, '') : text;
    text = `"${uncast}"`;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function columnSchema(column: Column): Record<string, unknown> {
  const notes = ['Note:'];
  if (column.isPrimaryKey) notes.push('This is a Primary Key.<pk/>');
  if (column.references) {
    const [table, target] = column.references;
    notes.push(`This is a Foreign Key to \`${table}.${target}\`.<fk table='${table}' column='${target}'/>`);
  }
  const description = notes.length > 1 ? `${column.description ? `${column.description}\n\n` : ''}${notes.join('\n')}` : column.description;
  const type = swaggerType(column.dataType);
  const schema: Record<string, unknown> = {};
  const defaultValue = column.default === null ? undefined : swaggerDefault(column.dataType, column.default);
  if (defaultValue !== undefined) schema.default = defaultValue;
  if (description) schema.description = description;
  if (column.enumValues.length > 0) schema.enum = column.enumValues;
  schema.format = swaggerFormat(column.dataType);
  if (column.maxLength !== null) schema.maxLength = column.maxLength;
  if (type) schema.type = type;
  if (type === 'array') {
    const itemType = swaggerType(column.dataType.slice(0, -2));
    schema.items = itemType ? { type: itemType } : {};
  }
  return schema;
}

const prefer = (values: string[]) => ({ name: 'Prefer', description: 'Preference', required: false, in: 'header', type: 'string', enum: values });
const queryParam = (name: string, description: string) => ({ name, description, required: false, in: 'query', type: 'string' });

export function openApiDocument(options: {
  tables: Table[];
  schemaDescription: string | null;
  host: string;
  version: string;
}): Record<string, unknown> {
  // The schema's comment: its first line is the title, the rest (maybe empty) the description.
  const [title, ...rest] = options.schemaDescription === null ? [] : options.schemaDescription.split('\n');
  const description = title === undefined ? undefined : rest.join('\n').replace(/^\n+/, '');
  const parameters: Record<string, unknown> = {
    preferParams: prefer(['params=single-object']),
    preferReturn: prefer(['return=representation', 'return=minimal', 'return=none']),
    preferCount: prefer(['count=none']),
    preferPost: prefer(['return=representation', 'return=minimal', 'return=none', 'resolution=ignore-duplicates', 'resolution=merge-duplicates']),
    select: queryParam('select', 'Filtering Columns'),
    on_conflict: queryParam('on_conflict', 'On Conflict'),
    order: queryParam('order', 'Ordering'),
    range: { name: 'Range', description: 'Limiting and Pagination', required: false, in: 'header', type: 'string' },
    rangeUnit: { name: 'Range-Unit', description: 'Limiting and Pagination', required: false, in: 'header', type: 'string', default: 'items' },
    offset: queryParam('offset', 'Limiting and Pagination'),
    limit: queryParam('limit', 'Limiting and Pagination'),
  };
  const paths: Record<string, unknown> = {
    '/': {
      get: {
        produces: ['application/openapi+json', 'application/json'],
        responses: { '200': { description: 'OK' } },
        summary: 'OpenAPI description (this document)',
        tags: ['Introspection'],
      },
    },
  };
  const definitions: Record<string, unknown> = {};
  for (const table of options.tables) {
    parameters[`body.${table.name}`] = { name: table.name, description: table.name, required: false, in: 'body', schema: { $ref: `#/definitions/${table.name}` } };
    for (const column of table.columns) {
      parameters[`rowFilter.${table.name}.${column.name}`] = {
        name: column.name,
        ...(column.description ? { description: column.description } : {}),
        required: false,
        in: 'query',
        type: 'string',
      };
    }
    const ref = (name: string) => ({ $ref: `#/parameters/${name}` });
    const rowFilters = table.columns.map((column) => ref(`rowFilter.${table.name}.${column.name}`));
    const operation = { tags: [table.name], ...(table.description ? { summary: table.description.split('\n')[0] } : {}) };
    const item: Record<string, unknown> = {
      get: {
        ...operation,
        parameters: [...rowFilters, ...['select', 'order', 'range', 'rangeUnit', 'offset', 'limit', 'preferCount'].map(ref)],
        responses: {
          '200': { description: 'OK', schema: { items: { $ref: `#/definitions/${table.name}` }, type: 'array' } },
          '206': { description: 'Partial Content' },
        },
      },
    };
    if (table.insertable || table.updatable || table.deletable) {
      item.post = { ...operation, parameters: [ref(`body.${table.name}`), ref('select'), ref('preferPost')], responses: { '201': { description: 'Created' } } };
      item.patch = { ...operation, parameters: [...rowFilters, ref(`body.${table.name}`), ref('preferReturn')], responses: { '204': { description: 'No Content' } } };
      item.delete = { ...operation, parameters: [...rowFilters, ref('preferReturn')], responses: { '204': { description: 'No Content' } } };
    }
    paths[`/${table.name}`] = item;
    const required = table.columns.filter((column) => !column.nullable).map((column) => column.name);
    definitions[table.name] = {
      ...(table.description ? { description: table.description } : {}),
      ...(required.length > 0 ? { required } : {}),
      properties: Object.fromEntries(table.columns.map((column) => [column.name, columnSchema(column)])),
      type: 'object',
    };
  }
  const mediaTypes = ['application/json', 'application/vnd.pgrst.object+json;nulls=stripped', 'application/vnd.pgrst.object+json', 'text/csv'];
  return {
    swagger: '2.0',
    info: {
      description: description ?? 'This is a dynamic API generated by PostgREST',
      title: title ?? 'PostgREST API',
      version: options.version,
    },
    host: options.host,
    basePath: '/',
    schemes: ['http'],
    consumes: mediaTypes,
    produces: mediaTypes,
    paths,
    definitions,
    parameters,
    externalDocs: { description: 'PostgREST Documentation', url: 'https://postgrest.org/en/v13/references/api.html' },
  };
}
