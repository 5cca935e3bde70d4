// Types of client-types.mjs for the test that imports it (test/client/openapi-types.e2e-spec.ts).
export declare const CLIENT_TYPES_FILE: string;
export declare const DOCUMENT_CONFIG: { port: number; demo: boolean };
export declare function clientTypes(document: object): Promise<string>;
