-- The SQL floor's fixture (ops/bench-floor), loaded after Kinnet's own migrations
-- into a database of its own: the agencies and districts intake checks a referral
-- against, families already on record (a referral about one of them writes no
-- family, subject or data key), and pre-made referral shapes whose sealed blobs are
-- random bytes of the sizes intake writes. Everything of the floor's own lives in
-- schema floor; Kinnet's tables get only rows a deployment would hold.
--
-- The shapes follow the load generator's referrals (tests/bench/bench_referral.c):
-- 1 to 3 children (50/35/15%), 1 to 4 needs (40/30/20/10%) whose narratives are
-- log-uniform 50 to 2,000 bytes, 1 or 2 guardians, 1 or 2 languages. The sealed
-- sizes are kn_crypto_seal_under's: 57 bytes (version, key id, nonce, tag) around
-- the packed protobuf, calibrated against a database intake filled (below).
-- Random bytes, because sealed bytes do not compress: a referral over 2 kB is
-- moved to TOAST as it is, as intake's are.
--
-- psql variables: shapes (4096) and known (10000), the number of each.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\if :{?shapes}
\else
  \set shapes 4096
\endif
\if :{?known}
\else
  \set known 10000
\endif

CREATE SCHEMA floor;

-- Random bytes: md5 of random text, 16 bytes at a time (as ops/bench's baseline).
CREATE FUNCTION floor.random_bytes (n int) RETURNS bytea LANGUAGE sql VOLATILE AS $$
  SELECT substring (decode (string_agg (md5 (random ()::text || g), ''), 'hex') FOR n)
    FROM generate_series (0, n / 16) g
$$;

-- The directory's districts: intake refuses a referral to a district nobody knows.
INSERT INTO core.district (code)
  SELECT d FROM unnest (ARRAY['north','south','east','west','central','riverside',
                              'hillside','docks']) d
  ON CONFLICT DO NOTHING;

-- Two referring agencies, as ops/bench's clients are spread over two. A new agency
-- gets the referrer role (and its audit row) from migration 0014's trigger.
CREATE TABLE floor.agency (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO core.agency (name, sector, district)
  VALUES ('Floor Primary School', 'school', 'north'),
         ('Floor Health Visitors', 'health', 'north');
INSERT INTO floor.agency
  SELECT row_number () OVER (ORDER BY name) - 1, id FROM core.agency
   WHERE name IN ('Floor Primary School', 'Floor Health Visitors');

-- One referral's shape: everything intake writes about it but its ids.
CREATE TABLE floor.shape (
  id            int PRIMARY KEY,
  children      smallint NOT NULL,
  needs         smallint[] NOT NULL,
  languages     text[] NOT NULL,
  urgency       smallint NOT NULL,
  district      text NOT NULL,
  lawful_basis  smallint NOT NULL,
  basis         text NOT NULL,        -- the audit row's name for lawful_basis
  caseworker    text NOT NULL,
  request_hash  bytea NOT NULL,       -- the idempotency digest, 32 bytes
  personal      bytea NOT NULL,       -- the referral less its people, sealed
  people        bytea[] NOT NULL,     -- each child's Person, sealed (referral_subject)
  birth_dates   bytea[] NOT NULL,     -- each child's date of birth, sealed (subject)
  wrapped       bytea[] NOT NULL,     -- each child's data key, wrapped: 72 bytes
  payload       bytea NOT NULL        -- the referral.received event (not sealed)
);

-- Sizes, as intake wrote them for ops/bench's generator (9,282 referrals at 16
-- clients, 2026-12-04), in bytes: referral.personal 261 to 6,666, mean 1,314, 21%
-- over 2,000 (so TOASTed), here 220 for the key, ground, caseworker and first
-- guardian, 45 for a second guardian, and per need its narrative and 6 bytes of
-- framing; a Person sealed 84 to 101, mean 90; a date of birth sealed 67 (10 + 57);
-- the event 143 to 159, mean 150; the idempotency key 26 to 29 characters.
INSERT INTO floor.shape
SELECT s.id, s.children, s.needs, s.languages, s.urgency, s.district, s.lawful_basis,
       CASE s.lawful_basis WHEN 3 THEN 'public_task' WHEN 2 THEN 'legal_obligation'
                           ELSE 'vital_interests' END,
       'cw-' || lpad ((s.id % 200)::text, 3, '0'),
       floor.random_bytes (32),
       floor.random_bytes (220 + 45 * (s.guardians - 1) + s.narratives),
       ARRAY (SELECT floor.random_bytes (84 + (random () * 13)::int)
                FROM generate_series (1, s.children)),
       ARRAY (SELECT floor.random_bytes (67) FROM generate_series (1, s.children)),
       ARRAY (SELECT floor.random_bytes (72) FROM generate_series (1, s.children)),
       floor.random_bytes (141 + 2 * cardinality (s.needs) + 3 * cardinality (s.languages))
  FROM (
    SELECT g AS id,
           CASE WHEN c < 0.50 THEN 1 WHEN c < 0.85 THEN 2 ELSE 3 END AS children,
           CASE WHEN x.gu < 0.5 THEN 1 ELSE 2 END AS guardians,
           ARRAY (SELECT (1 + floor (random () * 14))::smallint
                    FROM generate_series (1, n.needs)) AS needs,
           (SELECT sum (6 + least (2000, floor (50 * exp (random () * ln (40)))))::int
              FROM generate_series (1, n.needs)) AS narratives,
           CASE WHEN l < 0.5 THEN ARRAY['en'] ELSE ARRAY['en', (ARRAY['pl','ar','uk','ro',
                'so','ur','pt','es','tr','bn','fr'])[1 + floor (random () * 11)::int]] END
             AS languages,
           CASE WHEN u < 0.55 THEN 1 WHEN u < 0.85 THEN 2 WHEN u < 0.97 THEN 3 ELSE 4 END
             AS urgency,
           (ARRAY['north','south','east','west','central','riverside','hillside',
                  'docks'])[1 + g % 8] AS district,
           CASE WHEN b < 0.70 THEN 3 WHEN b < 0.95 THEN 2 ELSE 4 END AS lawful_basis
      FROM generate_series (0, :shapes - 1) g,
           LATERAL (SELECT random () c, random () l, random () u, random () b,
                           random () r, random () gu WHERE g >= 0) x,
           LATERAL (SELECT CASE WHEN x.r < 0.4 THEN 1 WHEN x.r < 0.7 THEN 2
                                WHEN x.r < 0.9 THEN 3 ELSE 4 END AS needs) n
  ) s;

-- Families on record before the run, each with the children of shape n mod shapes:
-- the share of referrals about a known family (-D repeat) names one of them. A
-- subject's blind index is sha256 of its id: unique and random-looking, as an
-- HMAC's, and derivable by the script's lookups (-D reads=1).
CREATE TABLE floor.known (n int PRIMARY KEY, family_id uuid NOT NULL,
                          subjects uuid[] NOT NULL, shape int NOT NULL);
INSERT INTO floor.known
  SELECT k, gen_random_uuid (),
         ARRAY (SELECT gen_random_uuid () FROM generate_series (1, s.children)),
         s.id
    FROM generate_series (0, :known - 1) k JOIN floor.shape s ON s.id = k % :shapes;
INSERT INTO core.family (id) SELECT family_id FROM floor.known;
INSERT INTO core.subject (id, family_id, blind_index, birth_date)
  SELECT x.id, k.family_id, sha256 (convert_to (x.id::text, 'UTF8')), floor.random_bytes (67)
    FROM floor.known k, unnest (k.subjects) x (id);
INSERT INTO core.data_key (id, subject_id, master_version, wrapped)
  SELECT gen_random_uuid (), x.id, 1, floor.random_bytes (72)
    FROM floor.known k, unnest (k.subjects) x (id);

CREATE TABLE floor.size (shapes int NOT NULL, known int NOT NULL);
INSERT INTO floor.size VALUES (:shapes, :known);

-- One transaction's batch of referrals, one row each: the ids every table's
-- statement must agree on, derived from the transaction's seed (so each statement
-- can call this again and get the same rows) and its time (the referral id is
-- time-ordered, as kn_uuid_generate_ordered's: 48 bits of milliseconds, then
-- random). repeat percent of them are about a known family, the rest about a new
-- one whose children get new subjects. Referrals alternate between the agencies.
CREATE FUNCTION floor.batch (seed bigint, first_shape int, size int, repeat int)
  RETURNS TABLE (i int, referral_id uuid, agency_id uuid, idempotency_key text,
                 family_id uuid, matched boolean, subjects uuid[], shape int)
  LANGUAGE sql STABLE AS $$
  SELECT g.i,
         (lpad (to_hex ((extract (epoch FROM now ()) * 1000)::bigint), 12, '0')
          || substr (h.h, 13))::uuid,
         a.id,
         'floor-' || seed || '-' || g.i,
         coalesce (k.family_id, md5 (h.h || ':family')::uuid),
         k.n IS NOT NULL,
         coalesce (k.subjects,
                   ARRAY (SELECT md5 (h.h || ':subject:' || c)::uuid
                            FROM generate_series (1, s.children) c)),
         s.id
    FROM generate_series (1, size) g (i)
    CROSS JOIN floor.size z
    CROSS JOIN LATERAL (SELECT md5 (seed || ':' || g.i) AS h) h
    JOIN floor.agency a ON a.n = g.i % 2
    LEFT JOIN floor.known k
      ON ('x' || substr (h.h, 1, 7))::bit(28)::int % 100 < repeat
     AND k.n = ('x' || substr (h.h, 8, 7))::bit(28)::int % z.known
    JOIN floor.shape s
      ON s.id = coalesce (k.shape, (first_shape + g.i) % z.shapes)
$$;

ANALYZE;
