-- The store schema at version 1, as museforge made it on SQLite before versioned migrations.
CREATE TABLE job (
    id VARCHAR(36) NOT NULL,
    kind VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    progress FLOAT NOT NULL,
    message TEXT NOT NULL,
    params JSON NOT NULL,
    result JSON,
    created DATETIME NOT NULL,
    updated DATETIME NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX ix_job_state ON job (state);
CREATE TABLE meta (
    "key" VARCHAR(64) NOT NULL,
    value VARCHAR(256) NOT NULL,
    PRIMARY KEY ("key")
);
CREATE TABLE project (
    id INTEGER NOT NULL,
    name VARCHAR(200) NOT NULL,
    created DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
);
CREATE TABLE artifact (
    id VARCHAR(64) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    media_type VARCHAR(100) NOT NULL,
    path VARCHAR(100) NOT NULL,
    size BIGINT NOT NULL,
    params JSON NOT NULL,
    seed BIGINT,
    model_id VARCHAR(200),
    project_id INTEGER,
    note TEXT,
    created DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(project_id) REFERENCES project (id)
);
CREATE INDEX ix_artifact_project_id ON artifact (project_id);
CREATE INDEX ix_artifact_created ON artifact (created);
CREATE INDEX ix_artifact_kind ON artifact (kind);
CREATE TABLE lineage (
    id INTEGER NOT NULL,
    parent_id VARCHAR(64) NOT NULL,
    child_id VARCHAR(64) NOT NULL,
    relation VARCHAR(32) NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_lineage UNIQUE (parent_id, child_id, relation),
    FOREIGN KEY(parent_id) REFERENCES artifact (id),
    FOREIGN KEY(child_id) REFERENCES artifact (id)
);
CREATE INDEX ix_lineage_child_id ON lineage (child_id);
CREATE TABLE rating (
    id INTEGER NOT NULL,
    artifact_id VARCHAR(64) NOT NULL,
    score FLOAT NOT NULL,
    note TEXT,
    "by" VARCHAR(16) NOT NULL,
    created DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(artifact_id) REFERENCES artifact (id)
);
CREATE INDEX ix_rating_artifact_id ON rating (artifact_id);
