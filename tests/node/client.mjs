// Drives Vigil's API from Node using only protos/vigil/v1/*.proto:
// uploads a video (client streaming), polls the job, searches, prints JSON.
// Usage: node client.mjs ADDRESS TOKEN VIDEO CAMERA_ID START_UNIX_SECONDS
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const [address, token, video, camera, startSeconds] = process.argv.slice(2);
const protos = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../protos');
const definition = protoLoader.loadSync(['vigil/v1/ingest.proto', 'vigil/v1/search.proto'], {
  includeDirs: [protos], keepCase: true, longs: String, enums: String, defaults: true,
});
const v1 = grpc.loadPackageDefinition(definition).vigil.v1;
const credentials = grpc.credentials.createInsecure();
const metadata = new grpc.Metadata();
metadata.add('authorization', `Bearer ${token}`);
const ingest = new v1.IngestService(address, credentials);
const search = new v1.SearchService(address, credentials);
const deadline = () => new Date(Date.now() + 60_000);

function upload() {
  return new Promise((resolve, reject) => {
    const call = ingest.IngestFile(metadata, { deadline: deadline() }, (err, resp) => (err ? reject(err) : resolve(resp.job_id)));
    call.write({ header: { camera_id: camera, filename: 'from-node.mp4', start_time: { seconds: startSeconds, nanos: 0 } } });
    const data = fs.readFileSync(video);
    for (let i = 0; i < data.length; i += 256 * 1024) call.write({ chunk: data.subarray(i, i + 256 * 1024) });
    call.end();
  });
}

const unary = (client, method, request) => new Promise((resolve, reject) =>
  client[method](request, metadata, { deadline: deadline() }, (err, resp) => (err ? reject(err) : resolve(resp))));

const jobId = await upload();
let job;
for (let i = 0; i < 600; i++) {
  job = await unary(ingest, 'GetJob', { job_id: jobId });
  if (job.state === 'JOB_STATE_SUCCEEDED' || job.state === 'JOB_STATE_FAILED') break;
  await new Promise((r) => setTimeout(r, 250));
}
const result = await unary(search, 'Search', { text: 'xe đạp', top_k: 3, frames: true, min_score: -1, filter: { camera_ids: [camera] } });
let badRequest = null;
try { await unary(search, 'Search', { text: '' }); } catch (err) { badRequest = { code: err.code, details: err.details }; }
console.log(JSON.stringify({
  job: { state: job.state, segments: job.progress.segments, vectors: job.progress.vectors },
  hits: result.hits.map((h) => ({ camera_id: h.camera_id, score: h.score, start: h.start_time.seconds })),
  model_id: result.model_id, bad_request: badRequest,
}));
