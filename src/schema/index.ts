// Imports every area of the graph and exports the schema.
import { lexicographicSortSchema } from 'graphql';
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
import './status.ts';
import './statistics.ts';
import './viewer.ts';

/** The executable GraphQL schema of sqp-refresh. */
export const schema = lexicographicSortSchema(builder.toSchema());
