// Every test process: never probe for a cloud metadata server, keep logs quiet.
process.env.METADATA_SERVER_DETECTION = 'none';
process.env.LOG_LEVEL ??= 'silent';
