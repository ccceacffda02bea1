ALTER TABLE `flow_runs` ADD `parent_flow_run_id` text;--> statement-breakpoint
CREATE INDEX `flow_runs_parent` ON `flow_runs` (`parent_flow_run_id`);