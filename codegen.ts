// GraphQL Code Generator: writes the committed contract `schema.graphql` from the Pothos
// schema, and typed operations for the tests (test/generated/) from the `graphql(...)` calls
// in test files. `npm run codegen` after any change to src/schema/; a test fails when stale.
import type { CodegenConfig } from '@graphql-codegen/cli';
import { printSchema } from 'graphql';
import { schema } from './src/schema/index.ts';

const config: CodegenConfig = {
  schema: printSchema(schema),
  documents: ['test/**/*.ts', '!test/generated/**'],
  ignoreNoDocuments: true,
  generates: {
    'schema.graphql': { plugins: ['schema-ast'], config: { includeDirectives: false } },
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSON: 'unknown', BigInt: 'string' },
      },
    },
  },
};

export default config;
