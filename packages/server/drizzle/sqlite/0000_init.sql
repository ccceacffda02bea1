CREATE TABLE `deployment_schedules` (
	`id` text PRIMARY KEY NOT NULL,
	`deployment_id` text NOT NULL,
	`position` integer NOT NULL,
	`schedule` text NOT NULL,
	`active` integer NOT NULL,
	`slug` text,
	`parameters` text NOT NULL,
	`max_scheduled_runs` integer,
	`catchup` text NOT NULL,
	`max_late_seconds` integer,
	`created` text NOT NULL,
	`updated` text NOT NULL,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `deployment_schedules_deployment` ON `deployment_schedules` (`deployment_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `deployment_schedules_slug` ON `deployment_schedules` (`deployment_id`,`slug`) WHERE slug IS NOT NULL;--> statement-breakpoint
CREATE TABLE `deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`flow_id` text NOT NULL,
	`name` text NOT NULL,
	`entrypoint` text,
	`parameters` text NOT NULL,
	`parameter_schema` text,
	`enforce_parameter_schema` integer NOT NULL,
	`tags` text NOT NULL,
	`description` text,
	`version` text,
	`work_queue_id` text,
	`job_variables` text NOT NULL,
	`concurrency_limit` integer,
	`collision_strategy` text NOT NULL,
	`pull_steps` text NOT NULL,
	`paused` integer NOT NULL,
	`created` text NOT NULL,
	`updated` text NOT NULL,
	FOREIGN KEY (`flow_id`) REFERENCES `flows`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`work_queue_id`) REFERENCES `work_queues`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deployments_flow_name` ON `deployments` (`flow_id`,`name`);--> statement-breakpoint
CREATE INDEX `deployments_work_queue` ON `deployments` (`work_queue_id`);--> statement-breakpoint
CREATE TABLE `flow_run_states` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`flow_run_id` text NOT NULL,
	`type` text NOT NULL,
	`name` text NOT NULL,
	`timestamp` text NOT NULL,
	`message` text,
	`scheduled_time` text,
	FOREIGN KEY (`flow_run_id`) REFERENCES `flow_runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `flow_run_states_run` ON `flow_run_states` (`flow_run_id`);--> statement-breakpoint
CREATE TABLE `flow_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`flow_id` text NOT NULL,
	`deployment_id` text,
	`work_queue_id` text,
	`state_type` text NOT NULL,
	`state_name` text NOT NULL,
	`state_timestamp` text NOT NULL,
	`state_message` text,
	`next_scheduled_start_time` text,
	`expected_start_time` text NOT NULL,
	`start_time` text,
	`end_time` text,
	`run_count` integer NOT NULL,
	`retries` integer,
	`retry_delay_seconds` integer,
	`retry_in_process` integer NOT NULL,
	`parameters` text NOT NULL,
	`tags` text NOT NULL,
	`idempotency_key` text,
	`job_variables` text NOT NULL,
	`auto_scheduled` integer NOT NULL,
	`schedule_id` text,
	`worker_name` text,
	`infrastructure_id` text,
	`last_heartbeat` text,
	`result` text,
	`created` text NOT NULL,
	`updated` text NOT NULL,
	FOREIGN KEY (`flow_id`) REFERENCES `flows`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`work_queue_id`) REFERENCES `work_queues`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `flow_runs_idempotency` ON `flow_runs` (`flow_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `flow_runs_claim` ON `flow_runs` (`work_queue_id`,`state_type`,`next_scheduled_start_time`);--> statement-breakpoint
CREATE INDEX `flow_runs_deployment_state` ON `flow_runs` (`deployment_id`,`state_type`);--> statement-breakpoint
CREATE INDEX `flow_runs_schedule_state` ON `flow_runs` (`schedule_id`,`state_type`,`next_scheduled_start_time`);--> statement-breakpoint
CREATE INDEX `flow_runs_state_expected` ON `flow_runs` (`state_type`,`expected_start_time`);--> statement-breakpoint
CREATE INDEX `flow_runs_expected` ON `flow_runs` (`expected_start_time`);--> statement-breakpoint
CREATE TABLE `flows` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`tags` text NOT NULL,
	`created` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `flows_name_unique` ON `flows` (`name`);--> statement-breakpoint
CREATE TABLE `logs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`flow_run_id` text NOT NULL,
	`timestamp` text NOT NULL,
	`level` text NOT NULL,
	`message` text NOT NULL,
	FOREIGN KEY (`flow_run_id`) REFERENCES `flow_runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `logs_run` ON `logs` (`flow_run_id`,`id`);--> statement-breakpoint
CREATE TABLE `work_pools` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`description` text,
	`is_paused` integer NOT NULL,
	`concurrency_limit` integer,
	`default_queue_id` text NOT NULL,
	`base_job_template` text NOT NULL,
	`created` text NOT NULL,
	`updated` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `work_pools_name_unique` ON `work_pools` (`name`);--> statement-breakpoint
CREATE TABLE `work_queues` (
	`id` text PRIMARY KEY NOT NULL,
	`work_pool_id` text NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`is_paused` integer NOT NULL,
	`concurrency_limit` integer,
	`priority` integer NOT NULL,
	`last_polled` text,
	`created` text NOT NULL,
	FOREIGN KEY (`work_pool_id`) REFERENCES `work_pools`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `work_queues_pool_name` ON `work_queues` (`work_pool_id`,`name`);--> statement-breakpoint
CREATE TABLE `workers` (
	`id` text PRIMARY KEY NOT NULL,
	`work_pool_id` text NOT NULL,
	`name` text NOT NULL,
	`last_heartbeat` text NOT NULL,
	`heartbeat_interval_seconds` integer NOT NULL,
	`created` text NOT NULL,
	FOREIGN KEY (`work_pool_id`) REFERENCES `work_pools`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `workers_pool_name` ON `workers` (`work_pool_id`,`name`);