/**
 * PostgREST's query-string grammar (PostgREST.ApiRequest.QueryParams), for the parts the
 * stand-in serves: `select`, filters (`col=op.value`, `not.`, quantifiers), `and`/`or` trees,
 * `order`, `limit`/`offset`, `columns` and `on_conflict`. Embedding, aggregates and spreads are
 * refused with PostgREST's "not implemented" error rather than silently misread.
 */
import { notImplemented, queryParamError } from './postgrest-errors.ts';

export interface JsonStep {
  arrow: '->' | '->>';
  key: string;
  /** An array index (`->0`), written into SQL as an integer. */
  isIndex: boolean;
}

export interface Field {
  name: string;
  path: JsonStep[];
}

export type CompareOperator = 'eq' | 'gte' | 'gt' | 'lte' | 'lt' | 'like' | 'ilike' | 'match' | 'imatch';
export type SimpleOperator = 'neq' | 'cs' | 'cd' | 'ov' | 'sl' | 'sr' | 'nxr' | 'nxl' | 'adj';
export type FtsOperator = 'fts' | 'plfts' | 'phfts' | 'wfts';
export type IsValue = 'null' | 'not_null' | 'true' | 'false' | 'unknown';

export type Operation =
  | { kind: 'compare'; operator: CompareOperator; quantifier: 'any' | 'all' | undefined; value: string }
  | { kind: 'simple'; operator: SimpleOperator; value: string }
  | { kind: 'in'; values: string[] }
  | { kind: 'is'; value: IsValue }
  | { kind: 'isdistinct'; value: string }
  | { kind: 'fts'; operator: FtsOperator; language: string | undefined; value: string };

export interface Filter {
  field: Field;
  negated: boolean;
  operation: Operation;
}

export type LogicTree =
  | { kind: 'filter'; filter: Filter }
  | { kind: 'logic'; negated: boolean; operator: 'and' | 'or'; children: LogicTree[] };

export type SelectItem = { kind: 'star' } | { kind: 'field'; field: Field; alias: string | undefined; cast: string | undefined };

export interface OrderTerm {
  field: Field;
  direction: 'asc' | 'desc' | undefined;
  nulls: 'first' | 'last' | undefined;
}

export interface QueryParams {
  select: SelectItem[];
  /** Every filter and logic tree on the root table, ANDed together. */
  where: LogicTree[];
  order: OrderTerm[];
  limit: number | undefined;
  offset: number;
  columns: string[] | undefined;
  onConflict: string[] | undefined;
}

/** Reads a whole query string the way PostgREST does; throws PostgrestError (PGRST100/127). */
export function parseQueryParams(query: URLSearchParams): QueryParams {
  const params: QueryParams = { select: [{ kind: 'star' }], where: [], order: [], limit: undefined, offset: 0, columns: undefined, onConflict: undefined };
  for (const [key, value] of query) {
    const last = key.split('.').at(-1)!;
    if (key === 'select') params.select = parseSelect(value);
    else if (key === 'columns') params.columns = parseColumnList(value, `columns parameter (${value})`);
    else if (key === 'on_conflict') params.onConflict = parseColumnList(value, `on_conflict parameter (${value})`);
    else if (['order', 'limit', 'offset', 'and', 'or'].includes(last)) {
      const path = key.split('.').filter((part) => part !== 'not');
      if (path.length > 1) throw notImplemented(`parameters on embedded resources (${key})`);
      if (last === 'order') params.order.push(...parseOrder(value));
      else if (last === 'limit') params.limit = integerParam(value) ?? params.limit;
      else if (last === 'offset') params.offset = integerParam(value) ?? params.offset;
      else params.where.push(parseLogicParam(key, value));
    } else {
      params.where.push({ kind: 'filter', filter: parseFilterParam(key, value) });
    }
  }
  return params;
}

/** PostgREST reads limit/offset with `readMaybe`: anything but an integer is ignored. */
function integerParam(value: string): number | undefined {
  return /^-?\d+$/.test(value) ? Number(value) : undefined;
}

class Cursor {
  i = 0;
  readonly text: string;
  /** What is being parsed, for the error message: `filter (eq.1)`. */
  readonly what: string;

  constructor(text: string, what: string) {
    this.text = text;
    this.what = what;
  }

  get done(): boolean {
    return this.i >= this.text.length;
  }
  peek(length = 1): string {
    return this.text.slice(this.i, this.i + length);
  }
  startsWith(prefix: string): boolean {
    return this.text.startsWith(prefix, this.i);
  }
  eat(prefix: string): boolean {
    if (!this.startsWith(prefix)) return false;
    this.i += prefix.length;
    return true;
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i += 1;
  }
  expect(prefix: string, expecting = `"${prefix}"`): void {
    if (!this.eat(prefix)) this.fail(expecting);
  }
  /** Fails like Parsec: `"failed to parse …" (line 1, column n)` and `unexpected … expecting …`. */
  fail(expecting: string): never {
    const unexpected = this.done ? 'end of input' : `"${this.peek()}"`;
    throw queryParamError(`"failed to parse ${this.what}" (line 1, column ${this.i + 1})`, `unexpected ${unexpected} expecting ${expecting}`);
  }
}

const identifierChar = /[\p{L}\p{N}_ $]/u;

function identifier(c: Cursor, expecting: string): string {
  const start = c.i;
  while (!c.done && identifierChar.test(c.peek())) c.i += 1;
  if (c.i === start) c.fail(expecting);
  return c.text.slice(start, c.i).trim();
}

/** `"…"` with backslash escapes. */
function quotedValue(c: Cursor): string {
  c.expect('"');
  let value = '';
  while (!c.done && c.peek() !== '"') {
    if (c.peek() === '\\') c.i += 1;
    value += c.peek();
    c.i += 1;
  }
  c.expect('"');
  return value;
}

/** A dash joins identifier parts, unless it starts a JSON arrow. */
function dashedNames(c: Cursor, part: (c: Cursor) => string): string {
  let name = part(c);
  while (c.peek() === '-' && c.peek(2) !== '->') {
    c.i += 1;
    name += `-${part(c)}`;
  }
  return name;
}

function fieldName(c: Cursor): string {
  if (c.peek() === '"') return quotedValue(c);
  return dashedNames(c, (cursor) => identifier(cursor, 'field name (* or [a..z0..9_$])'));
}

function jsonPath(c: Cursor): JsonStep[] {
  const steps: JsonStep[] = [];
  for (;;) {
    const arrow = c.eat('->>') ? '->>' : c.eat('->') ? '->' : undefined;
    if (!arrow) return steps;
    const index = /^-?\d+/.exec(c.text.slice(c.i));
    const after = index ? c.text.slice(c.i + index[0].length) : '';
    if (index && (after === '' || /^(->|::|\.|,)/.test(after))) {
      c.i += index[0].length;
      steps.push({ arrow, key: index[0], isIndex: true });
    } else if (c.peek() === '"') {
      steps.push({ arrow, key: quotedValue(c), isIndex: false });
    } else {
      const key = dashedNames(c, (cursor) => {
        const start = cursor.i;
        while (!cursor.done && !'(-:.,>)'.includes(cursor.peek())) cursor.i += 1;
        if (cursor.i === start) cursor.fail('any non reserved character different from: .,>()');
        return cursor.text.slice(start, cursor.i).trim();
      });
      steps.push({ arrow, key, isIndex: false });
    }
  }
}

function field(c: Cursor): Field {
  c.skipSpaces();
  const name = fieldName(c);
  const path = jsonPath(c);
  c.skipSpaces();
  return { name, path };
}

function atItemEnd(c: Cursor): boolean {
  return c.done || c.peek() === ',' || c.peek() === ')';
}

export function parseSelect(text: string): SelectItem[] {
  const c = new Cursor(text, `select parameter (${text})`);
  const items: SelectItem[] = [];
  if (c.done) return items;
  for (;;) {
    c.skipSpaces();
    if (c.startsWith('...')) throw notImplemented(`spread embedding in select (${text})`);
    if (c.peek() === '*' && (c.i + 1 === c.text.length || ',)'.includes(c.text[c.i + 1]!))) {
      c.i += 1;
      items.push({ kind: 'star' });
    } else {
      items.push(selectField(c, text));
    }
    c.skipSpaces();
    if (c.done) return items;
    c.expect(',', '"," or end of input');
  }
}

function selectField(c: Cursor, text: string): SelectItem {
  // An alias is a field name followed by a single colon.
  let alias: string | undefined;
  const start = c.i;
  try {
    const name = fieldName(c);
    if (c.peek() === ':' && c.peek(2) !== '::') {
      c.i += 1;
      alias = name;
    } else {
      c.i = start;
    }
  } catch {
    c.i = start;
  }
  if (c.startsWith('count()')) throw notImplemented(`aggregates in select (${text})`);
  const selected = field(c);
  if (c.peek() === '(' || c.peek() === '!') throw notImplemented(`embedded resources in select (${text})`);
  let cast: string | undefined;
  if (c.eat('::')) cast = identifier(c, 'letter or digit');
  if (c.peek() === '.') throw notImplemented(`aggregates in select (${text})`);
  c.skipSpaces();
  if (!atItemEnd(c)) c.fail('"->", "::", "," or end of input');
  return { kind: 'field', field: selected, alias, cast };
}

function parseColumnList(text: string, what: string): string[] {
  const c = new Cursor(text, what);
  const names: string[] = [];
  for (;;) {
    c.skipSpaces();
    names.push(fieldName(c));
    c.skipSpaces();
    if (c.done) return names;
    c.expect(',', '"," or end of input');
  }
}

export function parseOrder(text: string): OrderTerm[] {
  const c = new Cursor(text, `order (${text})`);
  const terms: OrderTerm[] = [];
  for (;;) {
    const ordered = field(c);
    if (c.peek() === '(') throw notImplemented(`ordering by an embedded resource (${text})`);
    let direction: OrderTerm['direction'];
    let nulls: OrderTerm['nulls'];
    if (c.eat('.asc')) direction = 'asc';
    else if (c.eat('.desc')) direction = 'desc';
    if (c.eat('.nullsfirst')) nulls = 'first';
    else if (c.eat('.nullslast')) nulls = 'last';
    c.skipSpaces();
    terms.push({ field: ordered, direction, nulls });
    if (c.done) return terms;
    c.expect(',', '"asc", "desc", "nullsfirst", "nullslast", "," or end of input');
  }
}

/** `id=eq.1`: the key is the column (with a JSON path), the value the operator and operand. */
function parseFilterParam(key: string, value: string): Filter {
  const keyCursor = new Cursor(key, `tree path (${key})`);
  const filtered = field(keyCursor);
  if (keyCursor.peek() === '.') throw notImplemented(`filters on embedded resources (${key})`);
  if (!keyCursor.done) keyCursor.fail('"->", "." or end of input');
  const c = new Cursor(value, `filter (${value})`);
  return { field: filtered, ...operatorExpression(c, restOfText) };
}

/** A top-level operand is everything after the operator, commas and parentheses included. */
function restOfText(c: Cursor): string {
  const rest = c.text.slice(c.i);
  c.i = c.text.length;
  return rest;
}

const compareOperators: CompareOperator[] = ['eq', 'gte', 'gt', 'lte', 'lt', 'like', 'ilike', 'match', 'imatch'];
const simpleOperators: SimpleOperator[] = ['neq', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj'];
const ftsOperators: FtsOperator[] = ['fts', 'plfts', 'phfts', 'wfts'];
const isValues: IsValue[] = ['null', 'not_null', 'true', 'false', 'unknown'];

/** `[not.]operator.operand`; `singleValue` reads the operand (all the rest, or up to `,`/`)` in a tree). */
function operatorExpression(c: Cursor, singleValue: (c: Cursor) => string): { negated: boolean; operation: Operation } {
  const negated = c.eat('not.');
  const operatorError = () => c.fail(`${negated ? '' : '"not" or '}operator (eq, gt, ...)`);
  if (c.eat('in.')) return { negated, operation: { kind: 'in', values: listValue(c) } };
  if (c.eat('is.')) {
    const word = isValues.find((candidate) => c.text.slice(c.i, c.i + candidate.length).toLowerCase() === candidate);
    if (!word) c.fail('isVal: (null, not_null, true, false, unknown)');
    c.i += word.length;
    return { negated, operation: { kind: 'is', value: word } };
  }
  if (c.eat('isdistinct.')) return { negated, operation: { kind: 'isdistinct', value: singleValue(c) } };
  const fts = ftsOperators.find((operator) => c.startsWith(`${operator}.`) || c.startsWith(`${operator}(`));
  if (fts) {
    c.i += fts.length;
    let language: string | undefined;
    if (c.eat('(')) {
      language = identifier(c, 'letter or digit');
      c.expect(')');
    }
    c.expect('.', 'delimiter (.)');
    return { negated, operation: { kind: 'fts', operator: fts, language, value: singleValue(c) } };
  }
  const simple = simpleOperators.find((operator) => c.startsWith(`${operator}.`));
  if (simple) {
    c.i += simple.length + 1;
    return { negated, operation: { kind: 'simple', operator: simple, value: singleValue(c) } };
  }
  const compare = compareOperators.find((operator) => c.startsWith(`${operator}.`) || c.startsWith(`${operator}(`));
  if (!compare) return operatorError();
  c.i += compare.length;
  let quantifier: 'any' | 'all' | undefined;
  if (c.eat('(any)')) quantifier = 'any';
  else if (c.eat('(all)')) quantifier = 'all';
  c.expect('.', 'delimiter (.)');
  return { negated, operation: { kind: 'compare', operator: compare, quantifier, value: singleValue(c) } };
}

/** `(a,b,"c,d")`: raw elements up to `,`/`)`, or quoted ones with backslash escapes. */
function listValue(c: Cursor): string[] {
  c.skipSpaces();
  c.expect('(');
  c.skipSpaces();
  const values: string[] = [];
  for (;;) {
    const start = c.i;
    let quoted: string | undefined;
    if (c.peek() === '"') {
      try {
        quoted = quotedValue(c);
        if (!atItemEnd(c)) quoted = undefined;
      } catch {
        quoted = undefined;
      }
    }
    if (quoted === undefined) {
      c.i = start;
      while (!c.done && c.peek() !== ',' && c.peek() !== ')') c.i += 1;
      values.push(c.text.slice(start, c.i));
    } else {
      values.push(quoted);
    }
    if (!c.eat(',')) break;
  }
  c.skipSpaces();
  c.expect(')', '"," or ")"');
  c.skipSpaces();
  return values;
}

/** An operand inside `or=(…)`: quoted, a `{…}` array literal, or everything up to `,`/`)`. */
function logicSingleValue(c: Cursor): string {
  const start = c.i;
  if (c.peek() === '"') {
    try {
      const quoted = quotedValue(c);
      if (atItemEnd(c)) return quoted;
    } catch {
      // not a quoted value after all: read it raw
    }
    c.i = start;
  }
  if (c.peek() === '{') {
    const end = c.text.indexOf('}', c.i);
    const inner = end < 0 ? '' : c.text.slice(c.i + 1, end);
    if (end >= 0 && !inner.includes('{')) {
      c.i = end + 1;
      return c.text.slice(start, c.i);
    }
  }
  while (!c.done && c.peek() !== ',' && c.peek() !== ')') c.i += 1;
  return c.text.slice(start, c.i);
}

/** `or=(a.eq.1,b.is.null)`, `not.and=(…)`: parsed as PostgREST does, as the text `or(…)`. */
function parseLogicParam(key: string, value: string): LogicTree {
  const text = `${key}${value}`;
  const c = new Cursor(text, `logic tree (${value})`);
  const tree = logicTree(c);
  c.skipSpaces();
  if (!c.done) c.fail('end of input');
  return tree;
}

function logicTree(c: Cursor): LogicTree {
  const start = c.i;
  // A filter `col.op.value` first; failing that, a nested `[not.]and(…)` / `[not.]or(…)`.
  try {
    const filtered = field(c);
    c.expect('.', 'delimiter (.)');
    return { kind: 'filter', filter: { field: filtered, ...operatorExpression(c, logicSingleValue) } };
  } catch {
    c.i = start;
  }
  c.skipSpaces();
  const negated = c.eat('not.');
  const operator = c.eat('and') ? 'and' : c.eat('or') ? 'or' : c.fail('logic operator (and, or)');
  c.skipSpaces();
  c.expect('(');
  const children: LogicTree[] = [];
  for (;;) {
    c.skipSpaces();
    children.push(logicTree(c));
    c.skipSpaces();
    if (!c.eat(',')) break;
  }
  c.expect(')', '"," or ")"');
  return { kind: 'logic', negated, operator, children };
}

export interface Preferences {
  resolution: 'merge-duplicates' | 'ignore-duplicates' | undefined;
  representation: 'representation' | 'minimal' | 'headers-only' | undefined;
  count: 'exact' | 'planned' | 'estimated' | undefined;
  missing: 'default' | 'null' | undefined;
}

/** Every `Prefer` header, split on commas; the first value of each kind wins (as in PostgREST). */
export function parsePreferences(headerValues: readonly string[]): Preferences {
  const prefs = headerValues.flatMap((value) => value.split(',')).map((value) => value.trim());
  const first = <T extends string>(prefix: string, allowed: readonly T[]): T | undefined =>
    prefs.map((pref) => (pref.startsWith(prefix) ? pref.slice(prefix.length) : undefined)).find((v): v is T => allowed.includes(v as T));
  return {
    resolution: first('resolution=', ['merge-duplicates', 'ignore-duplicates'] as const),
    representation: first('return=', ['representation', 'minimal', 'headers-only'] as const),
    count: first('count=', ['exact', 'planned', 'estimated'] as const),
    missing: first('missing=', ['default', 'null'] as const),
  };
}
