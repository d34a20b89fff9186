-- Categories that match the data (issue 14, item 3). A need's description is
-- disclosed under the data category its need implies, so a consent that leaves out
-- mental-health data withholds a mental-health need's narrative. Before this
-- release every need went out as "referral narrative". The mapping is data: a
-- data-protection officer may change a row (docs/privacy.md); a need without a row
-- is referral narrative.
CREATE TABLE core.need_data_category (
  need      smallint PRIMARY KEY CHECK (need BETWEEN 1 AND 100),   -- kinnet.v1.NeedCategory
  category  smallint NOT NULL CHECK (category BETWEEN 1 AND 100)   -- kinnet.v1.DataCategory
);
INSERT INTO core.need_data_category (need, category) VALUES
  (1, 2),    -- ATTENDANCE_AND_LEARNING -> EDUCATION
  (2, 2),    -- SPECIAL_EDUCATIONAL_NEEDS_DISABILITY -> EDUCATION
  (3, 7),    -- LANGUAGE_SUPPORT -> REFERRAL_NARRATIVE
  (4, 4),    -- MENTAL_HEALTH_NEED -> MENTAL_HEALTH_DATA
  (5, 3),    -- PHYSICAL_HEALTH -> PHYSICAL_HEALTH_DATA
  (6, 7),    -- HOUSING_NEED -> REFERRAL_NARRATIVE
  (7, 7),    -- INCOME_POVERTY -> REFERRAL_NARRATIVE
  (8, 7),    -- PARENTING_SUPPORT -> REFERRAL_NARRATIVE
  (9, 5),    -- DOMESTIC_ABUSE -> SOCIAL_CARE
  (10, 5),   -- CHILD_PROTECTION_CONCERN -> SOCIAL_CARE
  (11, 8),   -- MIGRATION_LEGAL_STATUS -> MIGRATION_STATUS
  (12, 4),   -- SUBSTANCE_MISUSE -> MENTAL_HEALTH_DATA (health data; ICD F10-F19)
  (13, 7),   -- YOUNG_CARER -> REFERRAL_NARRATIVE
  (14, 7);   -- EARLY_YEARS_DEVELOPMENT -> REFERRAL_NARRATIVE
GRANT SELECT ON core.need_data_category
  TO kinnet_intake, kinnet_consent, kinnet_routing, kinnet_reporting;
