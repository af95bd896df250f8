ALTER TABLE `event_applications` ADD `user_id` bigint unsigned;--> statement-breakpoint
ALTER TABLE `events` ADD `entry` enum('ACCOUNT','PUBLIC') DEFAULT 'PUBLIC' NOT NULL;--> statement-breakpoint
ALTER TABLE `event_applications` ADD CONSTRAINT `uq_event_applications_user` UNIQUE(`event_id`,`user_id`);