/**
 * Standalone tasks (seed 001's task API) on top of the durable queue: single tasks with
 * dependencies, chains of steps, and templates. The queue runs them like any other task; what
 * follows a standalone task's end (releasing the tasks that waited for it, the next step of its
 * chain) runs in the queue's transaction through `withTaskHooks`.
 */
export { TaskService, MAX_DEPENDENCIES } from './service.js';
export {
  withTaskHooks,
  standaloneTaskHooks,
  advanceChains,
  endChains,
  releaseDependents,
  failDependents,
  DEPENDENCY_FAILED,
} from './hooks.js';
export { HELD_UNTIL, DEFAULT_TASK_TYPE, inputAfter, splitAgentRef } from './prepare.js';
export * from './types.js';
export {
  ScheduledTaskService,
  enqueueScheduledTask,
  countScheduledOutcomes,
  scheduledTaskView,
  scheduledTaskKey,
  MISFIRE_POLICIES,
  SCHEDULED_TASK_NAME_PATTERN,
  type MisfirePolicy,
  type ScheduleTaskInput,
  type ScheduleTaskChanges,
  type ScheduledTaskView,
  type ScheduledTaskRow,
} from './scheduled.js';
