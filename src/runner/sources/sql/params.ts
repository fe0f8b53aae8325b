// custom_sync_params.source of an `sql` transform.
import { z } from 'zod';
import { identifier } from '../../params/param-types.ts';

export const SqlTransformParams = z.object({
  type: z.literal('sql'),
  /** Built-in transforms of the summary tables, computed from their parent in PostgreSQL. */
  transform: z.enum(['weekly_summary', 'monthly_summary', 'quarterly_summary', 'yearly_summary', 'search_performance_summary']),
  /** The parent table (in the target's schema), default asin_performance_data. */
  parentTable: identifier.default('asin_performance_data'),
}).strict();
