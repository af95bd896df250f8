ALTER TABLE `batch_runs` ADD `plan_started_at` datetime(6);--> statement-breakpoint
ALTER TABLE `step_execution_log` ADD `coupons_issued` int unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `step_execution_log` ADD `coupons_revoked` int unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `step_execution_log` ADD `redemptions_applied` int unsigned DEFAULT 0 NOT NULL;