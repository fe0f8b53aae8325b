-- 030_sqp_tables: the `sqp` schema and the eight Search Query Performance tables that the
-- refresh system (031) registers. Columns follow Amazon's Search Query Performance report
-- (Brand Analytics): per search query and week, the funnel impressions → clicks → cart adds
-- → purchases, each as the market total, the ASIN's (or brand's) count and its share.
--
-- Everything is IF NOT EXISTS: a database that already has its own sqp tables keeps them
-- exactly as they are, and the refresh system adapts to their columns through the catalog.

CREATE SCHEMA IF NOT EXISTS sqp;

-- ASIN view of the report: one row per ASIN, search query and reporting week.
-- Table and index together, only when the table is not there: a database's own
-- asin_performance_data is kept exactly as it is (it need not even have start_date).
DO $$
BEGIN
    IF to_regclass('sqp.asin_performance_data') IS NULL THEN
        CREATE TABLE sqp.asin_performance_data (
            start_date                   DATE          NOT NULL,
            end_date                     DATE          NOT NULL,
            asin                         TEXT          NOT NULL,
            search_query                 TEXT          NOT NULL,
            search_query_score           INTEGER,
            search_query_volume          BIGINT,
            impressions_total_count      BIGINT,
            impressions_asin_count       BIGINT,
            impressions_asin_share       NUMERIC(7,4),
            clicks_total_count           BIGINT,
            clicks_click_rate            NUMERIC(7,4),
            clicks_asin_count            BIGINT,
            clicks_asin_share            NUMERIC(7,4),
            clicks_price_median          NUMERIC(12,2),
            clicks_asin_price_median     NUMERIC(12,2),
            cart_adds_total_count        BIGINT,
            cart_adds_add_rate           NUMERIC(7,4),
            cart_adds_asin_count         BIGINT,
            cart_adds_asin_share         NUMERIC(7,4),
            cart_adds_price_median       NUMERIC(12,2),
            cart_adds_asin_price_median  NUMERIC(12,2),
            purchases_total_count        BIGINT,
            purchases_purchase_rate      NUMERIC(7,4),
            purchases_asin_count         BIGINT,
            purchases_asin_share         NUMERIC(7,4),
            purchases_price_median       NUMERIC(12,2),
            purchases_asin_price_median  NUMERIC(12,2),
            updated_at                   TIMESTAMPTZ   NOT NULL DEFAULT now(),
            PRIMARY KEY (asin, search_query, start_date)
        );
        CREATE INDEX asin_performance_data_start_date_idx ON sqp.asin_performance_data (start_date);
    END IF;
END;
$$;

-- Brand view of the report: one row per search query and week, the brand's ASINs together.
CREATE TABLE IF NOT EXISTS sqp.search_query_performance (
    start_date                   DATE          NOT NULL,
    end_date                     DATE          NOT NULL,
    search_query                 TEXT          NOT NULL,
    search_query_score           INTEGER,
    search_query_volume          BIGINT,
    impressions_total_count      BIGINT,
    impressions_brand_count      BIGINT,
    impressions_brand_share      NUMERIC(7,4),
    clicks_total_count           BIGINT,
    clicks_click_rate            NUMERIC(7,4),
    clicks_brand_count           BIGINT,
    clicks_brand_share           NUMERIC(7,4),
    clicks_price_median          NUMERIC(12,2),
    cart_adds_total_count        BIGINT,
    cart_adds_brand_count        BIGINT,
    cart_adds_brand_share        NUMERIC(7,4),
    purchases_total_count        BIGINT,
    purchases_brand_count        BIGINT,
    purchases_brand_share        NUMERIC(7,4),
    purchases_price_median       NUMERIC(12,2),
    updated_at                   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (search_query, start_date)
);

-- Daily grain of the ASIN view, where the source provides it.
CREATE TABLE IF NOT EXISTS sqp.daily_sqp_data (
    report_date                  DATE          NOT NULL,
    asin                         TEXT          NOT NULL,
    search_query                 TEXT          NOT NULL,
    search_query_volume          BIGINT,
    impressions_total_count      BIGINT,
    impressions_asin_count       BIGINT,
    clicks_total_count           BIGINT,
    clicks_asin_count            BIGINT,
    cart_adds_total_count        BIGINT,
    cart_adds_asin_count         BIGINT,
    purchases_total_count        BIGINT,
    purchases_asin_count         BIGINT,
    updated_at                   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (asin, search_query, report_date)
);

-- Lifetime summary per ASIN and search query, built from asin_performance_data.
CREATE TABLE IF NOT EXISTS sqp.search_performance_summary (
    asin                         TEXT          NOT NULL,
    search_query                 TEXT          NOT NULL,
    first_week                   DATE          NOT NULL,
    last_week                    DATE          NOT NULL,
    weeks_present                INTEGER       NOT NULL,
    search_query_volume          BIGINT,
    impressions_asin_count       BIGINT,
    clicks_asin_count            BIGINT,
    cart_adds_asin_count         BIGINT,
    purchases_asin_count         BIGINT,
    avg_impressions_asin_share   NUMERIC(7,4),
    avg_clicks_asin_share        NUMERIC(7,4),
    avg_purchases_asin_share     NUMERIC(7,4),
    click_through_rate           NUMERIC(9,6),
    conversion_rate              NUMERIC(9,6),
    updated_at                   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (asin, search_query)
);

-- Period summaries per ASIN, built from asin_performance_data. One shape for the four
-- periods, so that one transform serves them all (period_start is the period's first day).
CREATE TABLE IF NOT EXISTS sqp.weekly_summary (
    asin                         TEXT          NOT NULL,
    period_start                 DATE          NOT NULL,
    period_end                   DATE          NOT NULL,
    query_count                  INTEGER       NOT NULL,
    search_query_volume          BIGINT,
    impressions_total_count      BIGINT,
    impressions_asin_count       BIGINT,
    impressions_asin_share       NUMERIC(7,4),
    clicks_total_count           BIGINT,
    clicks_asin_count            BIGINT,
    clicks_asin_share            NUMERIC(7,4),
    cart_adds_total_count        BIGINT,
    cart_adds_asin_count         BIGINT,
    cart_adds_asin_share         NUMERIC(7,4),
    purchases_total_count        BIGINT,
    purchases_asin_count         BIGINT,
    purchases_asin_share         NUMERIC(7,4),
    updated_at                   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (asin, period_start)
);
CREATE TABLE IF NOT EXISTS sqp.monthly_summary   (LIKE sqp.weekly_summary INCLUDING ALL);
CREATE TABLE IF NOT EXISTS sqp.quarterly_summary (LIKE sqp.weekly_summary INCLUDING ALL);
CREATE TABLE IF NOT EXISTS sqp.yearly_summary    (LIKE sqp.weekly_summary INCLUDING ALL);
