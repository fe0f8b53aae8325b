// Global ids in one canonical form only: base64 (standard alphabet, padded) of
// `<Type>:<database id>`, the id a positive integer written without sign, leading zeros,
// spaces, exponent or hex. Pothos' default decoder hands `0x9`, ` 9` or `1e3` to parseInt, so
// each names some other row (0, 9, 1); here each is refused as input the caller got wrong.
import { GraphQLError } from 'graphql';

/** Every id in the graph is an `integer` primary key (PostgreSQL int4). */
const MAX_ID = 2 ** 31 - 1;

/** Decodes a global id, refusing anything but the form the graph itself hands out. */
export function decodeCanonicalGlobalID(globalID: string): { typename: string; id: string } {
  const text = Buffer.from(globalID, 'base64').toString('utf8');
  const match = /^([A-Z][A-Za-z]*):([1-9]\d{0,9})$/.exec(text);
  // Decoding is lenient (no padding, stray characters); encoding back must give the input.
  if (!match || Buffer.from(text, 'utf8').toString('base64') !== globalID || Number(match[2]) > MAX_ID) {
    throw new GraphQLError(`Invalid global ID: ${JSON.stringify(globalID)} is not an id this graph hands out`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return { typename: match[1]!, id: match[2]! };
}
