// Text PostgreSQL cannot store, refused at the door of every field: U+0000 (NUL), which neither
// text nor jsonb can hold, and a lone UTF-16 surrogate, which has no UTF-8 (the driver would
// write U+FFFD in its place, jsonb refuses its escape). A Pothos plugin (registered in
// builder.ts) walks each field's coerced arguments — strings, lists, input objects and JSON
// values, their keys too — before its resolver runs, so no field can forget it. It runs inside
// scope-auth (a caller without the scope learns nothing of their input) and inside the errors
// plugin: a field that lists ValidationError returns it as its typed result, naming every bad
// path; any other field (queries, subscriptions) fails with a GraphQL error whose extensions
// say the same (`code: BAD_USER_INPUT`, `field`, `issues`), as an invalid global id does.
import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import { GraphQLError, type GraphQLFieldResolver } from 'graphql';
import { ValidationError } from '../errors.ts';
import { issuePath, type ParamIssue } from '../runner/params/params-error.ts';

const PLUGIN = 'inputText';

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      inputText: InputTextPlugin<Types>;
    }
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why PostgreSQL cannot store this text, or null when it can. */
function unstorableText(text: string): string | null {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL), which PostgreSQL cannot store';
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate, which is not text PostgreSQL can store';
  return null;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/**
 * Every unstorable text in a field's arguments, by path. A mutation's one `input` argument is
 * not part of the path (`tableName`, `customSyncParams.source.query`), as in every other
 * ValidationError of a mutation; other arguments are (`filter.tableName`). Walked with a stack,
 * not recursion: a JSON value may be nested deeper than the call stack.
 */
function unstorableTextIn(args: Record<string, unknown>): ParamIssue[] {
  const issues: ParamIssue[] = [];
  const stack: Array<{ path: PropertyKey[]; value: unknown }> = Object.entries(args).map(([name, value]) => ({ path: name === 'input' ? [] : [name], value }));
  while (stack.length) {
    const { path, value } = stack.pop()!;
    if (typeof value === 'string') {
      const why = unstorableText(value);
      if (why) issues.push({ path: issuePath(path), message: why });
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ path: [...path, i], value: item }));
    } else if (isPlainObject(value)) {
      for (const [key, item] of Object.entries(value)) {
        const why = unstorableText(key);
        if (why) issues.push({ path: issuePath(path), message: `a key ${why}` });
        else stack.push({ path: [...path, key], value: item });
      }
    }
  }
  return issues.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The error a field gives for these issues: its typed ValidationError when it lists one, else a GraphQL error saying the same. */
function refusal<Types extends SchemaTypes>(fieldConfig: PothosOutputFieldConfig<Types>, issues: ParamIssue[]): Error {
  const error = new ValidationError(issues);
  const typed = (fieldConfig.extensions?.pothosErrors as unknown[] | undefined)?.includes(ValidationError);
  return typed ? error : new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT', field: error.field, issues } });
}

/** `fn` (a resolver or a subscribe) refusing a call whose arguments hold unstorable text before it runs. */
function guarded<Types extends SchemaTypes>(fn: GraphQLFieldResolver<unknown, Types['Context'], object>, fieldConfig: PothosOutputFieldConfig<Types>): GraphQLFieldResolver<unknown, Types['Context'], object> {
  return (parent, args, context, info) => {
    const issues = unstorableTextIn(args as Record<string, unknown>);
    if (issues.length) throw refusal(fieldConfig, issues);
    return fn(parent, args, context, info);
  };
}

class InputTextPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(resolver: GraphQLFieldResolver<unknown, Types['Context'], object>, fieldConfig: PothosOutputFieldConfig<Types>): GraphQLFieldResolver<unknown, Types['Context'], object> {
    return Object.keys(fieldConfig.args).length ? guarded(resolver, fieldConfig) : resolver;
  }

  override wrapSubscribe(
    subscribe: GraphQLFieldResolver<unknown, Types['Context'], object> | undefined,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> | undefined {
    return subscribe && Object.keys(fieldConfig.args).length ? guarded(subscribe, fieldConfig) : subscribe;
  }
}

SchemaBuilder.registerPlugin(PLUGIN, InputTextPlugin);

export default PLUGIN;
