/** Sent in `User-Agent`; kept equal to package.json's version by a unit test. */
export const CLIENT_VERSION = '0.1.0';
export const USER_AGENT = `tanium-tr-serverless/${CLIENT_VERSION}`;
