// Package lambdaurl plays a Lambda function URL on loopback, in front of a
// function run by package lambdarun: each HTTP request becomes an event of
// payload format 2.0, the function is invoked with its timeout as the
// deadline, and its response becomes the HTTP answer. The writable
// endpoints (package writeprobe) run behind it in tests and rehearsals.
//
// It follows the Lambda Developer Guide, "Invoking Lambda function URLs"
// (urls-invocation), whose request and response payloads are API Gateway's
// payload format version 2.0:
//   - the request: version "2.0"; rawPath; rawQueryString (without "?");
//     headers with lower-cased names, repeated values joined by commas;
//     cookies apart from the headers; queryStringParameters with repeated
//     values joined by commas; requestContext (accountId, apiId, domainName
//     <url-id>.lambda-url.<region>.on.aws, domainPrefix, requestId, time,
//     timeEpoch, http.method/path/protocol/sourceIp/userAgent); body, base64
//     with isBase64Encoded true when the content is binary;
//   - the response: statusCode, headers, body (base64 when
//     isBase64Encoded), cookies as Set-Cookie headers; a function that
//     returns valid JSON without a statusCode is answered 200,
//     content-type application/json, that JSON as the body.
//
// What it guesses (the guide does not say):
//   - GUESS: a function error and a function timeout are both answered 502
//     with the body "Internal Server Error" (what API Gateway answers for a
//     failed integration, and what function URLs are reported to answer).
//     The guide documents neither. For Route 53 any answer other than 2xx or
//     3xx is unhealthy, so the exact code does not change what a health
//     check concludes.
//   - GUESS: a response that is not valid JSON, or whose statusCode is out
//     of 100–599, or whose base64 body does not decode, is a 502 too.
//   - GUESS: which bodies count as binary: any Content-Type other than
//     text/*, JSON, XML, JavaScript and form data, or a body that is not
//     UTF-8.
//   - GUESS: http.path is the raw path, as rawPath.
//   - GUESS: a request body over 6 MB (the synchronous invocation payload
//     quota) is refused with 413.
//   - Not played: routeKey and stage ("$default" placeholders, left out as
//     the aws-lambda-go event struct leaves them out), the headers Lambda
//     adds (x-forwarded-*, x-amzn-trace-id), AWS_IAM auth (the URL is
//     auth type NONE), CORS, response streaming, throttling.
//
// Concurrency: lambdarun hands one invocation at a time to each bootstrap
// process. The stand-in admits Options.Concurrency invocations at once (the
// number of processes the caller started under the Runtime API, 1 by
// default) and makes the other requests wait for a free slot, within the
// request's own context. Lambda would start another execution environment
// instead (a cold start); a waiting request is the stand-in's version of
// that delay. A function that timed out keeps its process: Lambda would
// restart it.
//
// The stand-in listens on loopback only and refuses any other address.
// Close stops the HTTP server; the function's processes belong to the
// caller.
package lambdaurl
