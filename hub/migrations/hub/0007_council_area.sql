-- Which council's area each postcode district lies in (issue 4: a legitimate relationship). Loaded by the
-- operator from the national postcode directory (welfare-hub orgs areas FILE); a district on a boundary
-- belongs to each council it touches.
CREATE TABLE hub.council_area (
    postcode_district  text NOT NULL,
    council_code       text NOT NULL,
    PRIMARY KEY (postcode_district, council_code)
);
