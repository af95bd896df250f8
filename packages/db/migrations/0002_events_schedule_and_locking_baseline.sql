CREATE TABLE `event_applications_locking` (
	`id` binary(16) NOT NULL,
	`event_id` bigint unsigned NOT NULL,
	`name` varchar(50) NOT NULL,
	`phone` varchar(16) NOT NULL,
	`received_at` datetime(6) NOT NULL,
	CONSTRAINT `event_applications_locking_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `events` ADD `schedule_key` varchar(40);--> statement-breakpoint
ALTER TABLE `events` ADD CONSTRAINT `uq_events_schedule_key` UNIQUE(`schedule_key`);