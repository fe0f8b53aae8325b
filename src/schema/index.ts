// Imports every area of the graph and exports the schema.
import { GraphQLObjectType, lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
import './enums.ts';
import './runs.ts';
import './configs.ts';
import './dependencies.ts';
import './quality.ts';
import './checkpoints.ts';
import './plan.ts';
import './errors.ts';
import './mutations.ts';
import './subscriptions.ts';
import './run-progress.ts';
import './status.ts';
import './statistics.ts';
import './viewer.ts';
import './alerts.ts';
import './backfills.ts';
import './nodes.ts';

const built = builder.toSchema();
// The Prisma plugin adds totalCount to connections without a description (it takes no option
// for one); every other description is written where its type or field is defined.
for (const type of Object.values(built.getTypeMap())) {
  const totalCount = type instanceof GraphQLObjectType ? type.getFields().totalCount : undefined;
  if (totalCount && !totalCount.description) totalCount.description = 'How many items the whole list holds, over all pages, with the same filter.';
}

/** The executable GraphQL schema of sqp-refresh. */
export const schema = lexicographicSortSchema(built);
