CREATE TABLE `batch_runs` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`job` varchar(32) NOT NULL,
	`period` char(7) NOT NULL,
	`status` enum('REQUESTED','PLANNING','RUNNING','COMPLETED','FAILED') NOT NULL DEFAULT 'REQUESTED',
	`strategy` varchar(16) NOT NULL,
	`chunk_size` int unsigned,
	`chunk_count` int unsigned,
	`target_count` int unsigned,
	`planner` binary(16),
	`plan_lease_until` datetime(6),
	`requested_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	`planned_at` datetime(6),
	`published_at` datetime(6),
	`finished_at` datetime(6),
	`coupons_issued` int unsigned NOT NULL DEFAULT 0,
	`coupons_revoked` int unsigned NOT NULL DEFAULT 0,
	`redemptions_applied` int unsigned NOT NULL DEFAULT 0,
	CONSTRAINT `batch_runs_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_batch_runs_job_period` UNIQUE(`job`,`period`)
);
--> statement-breakpoint
CREATE TABLE `batch_targets` (
	`run_id` bigint unsigned NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`chunk_no` int unsigned NOT NULL,
	`total` bigint unsigned NOT NULL,
	`order_count` int unsigned NOT NULL,
	`to_grade` enum('BRONZE','SILVER','GOLD','VIP') NOT NULL,
	CONSTRAINT `pk_batch_targets` PRIMARY KEY(`run_id`,`user_id`)
);
--> statement-breakpoint
CREATE TABLE `step_execution_log` (
	`run_id` bigint unsigned NOT NULL,
	`step` varchar(32) NOT NULL,
	`chunk_no` int unsigned NOT NULL,
	`status` enum('PENDING','CLAIMED','DONE') NOT NULL DEFAULT 'PENDING',
	`owner` binary(16),
	`epoch` int unsigned NOT NULL DEFAULT 0,
	`lease_until` datetime(6),
	`item_count` int unsigned NOT NULL DEFAULT 0,
	`write_count` int unsigned NOT NULL DEFAULT 0,
	`claim_count` int unsigned NOT NULL DEFAULT 0,
	`started_at` datetime(6),
	`finished_at` datetime(6),
	CONSTRAINT `pk_step_execution_log` PRIMARY KEY(`run_id`,`step`,`chunk_no`)
);
--> statement-breakpoint
CREATE TABLE `was_instances` (
	`id` binary(16) NOT NULL,
	`service` varchar(32) NOT NULL,
	`host` varchar(255) NOT NULL,
	`pid` int unsigned NOT NULL,
	`started_at` datetime(6) NOT NULL,
	`last_heartbeat` datetime(6) NOT NULL,
	CONSTRAINT `was_instances_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `coupon_redemptions` (
	`id` binary(16) NOT NULL,
	`coupon_id` binary(16) NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`idempotency_key` varchar(64) NOT NULL,
	`status` enum('PENDING','REDEEMED','REJECTED') NOT NULL DEFAULT 'PENDING',
	`reason` varchar(40),
	`requested_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	`resolved_at` datetime(6),
	CONSTRAINT `coupon_redemptions_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_redemptions_user_key` UNIQUE(`user_id`,`idempotency_key`)
);
--> statement-breakpoint
CREATE TABLE `coupons` (
	`id` binary(16) NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`kind` varchar(20) NOT NULL,
	`period` char(7) NOT NULL,
	`slot` tinyint unsigned NOT NULL,
	`amount` int unsigned NOT NULL,
	`status` enum('ISSUED','REDEEMED','REVOKED') NOT NULL DEFAULT 'ISSUED',
	`issued_at` datetime(6) NOT NULL,
	`expires_at` datetime(6) NOT NULL,
	`redeemed_at` datetime(6),
	`revoked_at` datetime(6),
	CONSTRAINT `coupons_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_coupons_user_kind_period_slot` UNIQUE(`user_id`,`kind`,`period`,`slot`)
);
--> statement-breakpoint
CREATE TABLE `event_applications` (
	`id` binary(16) NOT NULL,
	`event_id` bigint unsigned NOT NULL,
	`name` varchar(50) NOT NULL,
	`phone` varchar(16) NOT NULL,
	`received_at` datetime(6) NOT NULL,
	`replica_id` binary(16) NOT NULL,
	`replica_seq` bigint unsigned NOT NULL,
	CONSTRAINT `event_applications_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_event_applications_phone` UNIQUE(`event_id`,`phone`)
);
--> statement-breakpoint
CREATE TABLE `event_winners` (
	`event_id` bigint unsigned NOT NULL,
	`rank` int unsigned NOT NULL,
	`application_id` binary(16) NOT NULL,
	CONSTRAINT `pk_event_winners` PRIMARY KEY(`event_id`,`rank`),
	CONSTRAINT `uq_event_winners_application` UNIQUE(`event_id`,`application_id`)
);
--> statement-breakpoint
CREATE TABLE `events` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`title` varchar(100) NOT NULL,
	`opens_at` datetime(6) NOT NULL,
	`closes_at` datetime(6) NOT NULL,
	`winner_quota` int unsigned NOT NULL,
	`announce_at` datetime(6) NOT NULL,
	`status` enum('SCHEDULED','ANNOUNCED') NOT NULL DEFAULT 'SCHEDULED',
	`created_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	CONSTRAINT `events_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `grade_history` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`period` char(7) NOT NULL,
	`from_grade` enum('BRONZE','SILVER','GOLD','VIP') NOT NULL,
	`to_grade` enum('BRONZE','SILVER','GOLD','VIP') NOT NULL,
	`total` bigint unsigned NOT NULL,
	`order_count` int unsigned NOT NULL,
	`created_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	CONSTRAINT `grade_history_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_grade_history_user_period` UNIQUE(`user_id`,`period`)
);
--> statement-breakpoint
CREATE TABLE `orders` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`user_id` bigint unsigned NOT NULL,
	`amount` int unsigned NOT NULL,
	`category` varchar(20) NOT NULL,
	`status` enum('PAID','CANCELLED') NOT NULL,
	`ordered_at` datetime NOT NULL,
	CONSTRAINT `orders_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`name` varchar(50) NOT NULL,
	`grade` enum('BRONZE','SILVER','GOLD','VIP') NOT NULL DEFAULT 'BRONZE',
	`grade_updated_at` datetime(6),
	`created_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	CONSTRAINT `users_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE INDEX `idx_batch_runs_status` ON `batch_runs` (`status`);--> statement-breakpoint
CREATE INDEX `idx_batch_targets_chunk` ON `batch_targets` (`run_id`,`chunk_no`);--> statement-breakpoint
CREATE INDEX `idx_step_execution_log_status` ON `step_execution_log` (`run_id`,`status`);--> statement-breakpoint
CREATE INDEX `idx_was_instances_service_heartbeat` ON `was_instances` (`service`,`last_heartbeat`);--> statement-breakpoint
CREATE INDEX `idx_redemptions_status_user` ON `coupon_redemptions` (`status`,`user_id`);--> statement-breakpoint
CREATE INDEX `idx_redemptions_coupon` ON `coupon_redemptions` (`coupon_id`);--> statement-breakpoint
CREATE INDEX `idx_coupons_user_status` ON `coupons` (`user_id`,`status`);--> statement-breakpoint
CREATE INDEX `idx_event_applications_arrival` ON `event_applications` (`event_id`,`received_at`,`replica_id`,`replica_seq`);--> statement-breakpoint
CREATE INDEX `idx_orders_user_time` ON `orders` (`user_id`,`ordered_at`,`amount`,`status`);--> statement-breakpoint
CREATE INDEX `idx_orders_month` ON `orders` (`ordered_at`,`status`,`user_id`,`amount`);