// A worker thread's main module: runs the tasks the pool posts, one at a time
// (the pool posts the next only after the reply, so an awaited task is alone).
import { parentPort } from "node:worker_threads";
import { TASKS, type TaskName } from "./tasks.js";
import type { TaskMessage, TaskReply } from "./pool.js";

if (!parentPort) throw new Error("worker entry loaded outside a worker thread");
const port = parentPort;

port.on("message", async (message: TaskMessage) => {
  let reply: TaskReply;
  try {
    if (message.gate) {
      // Tests hold a task here to observe what the server does meanwhile.
      port.postMessage({ id: message.id, started: true } satisfies TaskReply);
      Atomics.wait(new Int32Array(message.gate), 0, 0);
    }
    const task = TASKS[message.task as TaskName] as (...args: unknown[]) => unknown;
    reply = { id: message.id, result: await task(...message.args) };
  } catch (err) {
    reply = { id: message.id, error: { message: (err as Error).message, stack: (err as Error).stack } };
  }
  port.postMessage(reply);
});
