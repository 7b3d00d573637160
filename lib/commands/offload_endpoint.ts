// `offload-endpoint`: publishes where `serve` takes oversized messages, in the Kafka topic hop-client reads it from.
import type { Command } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp, settingValue } from "../cli/config.ts";
import { usageError } from "../cli/flags.ts";
import { type CommandSettings, commandSettings, openKafka, printConfig } from "../cli/services.ts";
import { isArchiveTopic } from "../topics/names.ts";
import { readbackGroup, readSpans } from "../restore/landed.ts";
import { checkEndpointUrl, METADATA_TOPIC, publishOffloadEndpoint } from "../serve/offload_endpoint.ts";

const OPTIONS = { ...CONNECTION_OPTIONS, "metadata-topic": { type: "string" as const } };

export interface OffloadEndpointOptions extends CommandSettings {
  url: string;
  topic: string;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseOffloadEndpointArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): OffloadEndpointOptions {
  const { values, positionals } = parseCommandArgs("offload-endpoint", argv, OPTIONS, true);
  if (positionals.length !== 1) {
    throw usageError(
      "offload-endpoint",
      "give serve's public URL, e.g. housekeeping offload-endpoint https://host",
    );
  }
  const topic = (values["metadata-topic"] as string | undefined) ?? METADATA_TOPIC;
  if (!isArchiveTopic(topic)) {
    throw usageError("offload-endpoint", `--metadata-topic "${topic}" is not a topic name`);
  }
  return { ...commandSettings(values, env, readConfig), url: checkEndpointUrl(positionals[0]!), topic };
}

export const command: Command = {
  name: "offload-endpoint",
  summary: "tell hop-client where serve takes messages too large for Kafka (sys.metadata)",
  help: `Usage: housekeeping offload-endpoint URL [--metadata-topic TOPIC] [options]

Publishes {"LargeMessageUploadEndpoint": URL} to the Kafka topic sys.metadata (creating it, one compacted
partition, if missing), where hop-client (>= 0.11) looks when a message is larger than its topic's
max.message.bytes: it then posts the message to URL/topic/{topic}+oversized and sends a placeholder through Kafka;
consumers fetch it from URL/msg/{id}, and send their credential only to this URL's scheme and host. URL is
\`serve\`'s public address, as clients reach it (https in production). Idempotent: nothing is written when the
last message of the topic already says the same. The Kafka credential needs Create (first time) and Write on it.

Options:
  --metadata-topic TOPIC   where to publish (default sys.metadata; hop-client reads only sys.metadata)
${settingsHelp()}

Exit status: 0 published or already there, 1 on errors, 2 for usage errors.

Example:
  KAFKA_BROKERS=kafka.example.org:9092 housekeeping offload-endpoint https://archive.example.org
`,
  async run(argv, ctx) {
    const options = parseOffloadEndpointArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, { url: options.url, "metadata-topic": options.topic });
    }
    const { kafka, log } = await openKafka(options.settings, ctx, "housekeeping-offload-endpoint");
    const outcome = await publishOffloadEndpoint(kafka, options.url, {
      topic: options.topic,
      groupId: readbackGroup(settingValue(options.settings, "username")),
      log,
      readSpans,
    });
    ctx.stdout(`${outcome}: ${options.topic} says {"LargeMessageUploadEndpoint": "${options.url}"}\n`);
    return 0;
  },
};
