// The official openai JavaScript SDK (npm "openai", node_modules/) against a live relay, run by
// tests/relay/test_clients.py: chat, streamed chat with usage, embeddings, the model list and
// one model, then a refused call. Prints what it got as one JSON object on stdout.
import OpenAI from "openai";

const { RELAY_URL, PORTAL_KEY, REFUSED_KEY, CHAT_MODEL, EMBEDDING_MODEL } = process.env;
const options = { baseURL: RELAY_URL, maxRetries: 0, timeout: 20_000 };
const client = new OpenAI({ ...options, apiKey: PORTAL_KEY });
const messages = [{ role: "user", content: "Say hello to the world." }];
const out = {};

const chat = await client.chat.completions.create({ model: CHAT_MODEL, messages }).withResponse();
out.chat = {
  text: chat.data.choices[0].message.content,
  usage: chat.data.usage,
  requestId: chat.response.headers.get("x-request-id"),
};

const stream = await client.chat.completions
  .create({ model: CHAT_MODEL, messages, stream: true, stream_options: { include_usage: true } })
  .withResponse();
out.stream = { text: "", chunks: 0, usage: null, requestId: stream.response.headers.get("x-request-id") };
for await (const chunk of stream.data) {
  out.stream.chunks += 1;
  out.stream.text += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) out.stream.usage = chunk.usage;
}

// Without encoding_format the SDK asks for base64 and decodes it into a Float32Array.
const embedding = await client.embeddings
  .create({ model: EMBEDDING_MODEL, input: "some text" })
  .withResponse();
out.embedding = {
  vector: Array.from(embedding.data.data[0].embedding),
  requestId: embedding.response.headers.get("x-request-id"),
};

out.models = [];
for await (const model of client.models.list()) out.models.push(model.id);
out.retrieved = (await client.models.retrieve(CHAT_MODEL)).id;

try {
  await new OpenAI({ ...options, apiKey: REFUSED_KEY }).chat.completions.create({
    model: CHAT_MODEL,
    messages,
  });
  out.refusal = null;
} catch (error) {
  out.refusal = {
    name: error.constructor.name,
    permissionDenied: error instanceof OpenAI.PermissionDeniedError,
    status: error.status,
    code: error.code,
    type: error.type,
  };
}

console.log(JSON.stringify(out));
