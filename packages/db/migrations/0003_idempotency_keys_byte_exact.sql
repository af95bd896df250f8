CREATE TABLE `order_requests` (
	`user_id` bigint unsigned NOT NULL,
	`idempotency_key` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	`order_id` bigint unsigned NOT NULL,
	`created_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	CONSTRAINT `pk_order_requests` PRIMARY KEY(`user_id`,`idempotency_key`)
);
--> statement-breakpoint
ALTER TABLE `coupon_redemptions` MODIFY COLUMN `idempotency_key` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;