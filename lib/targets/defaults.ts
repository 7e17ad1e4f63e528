/**
 * Target constants that the settings table needs for `--help`, kept apart from the target modules so
 * that printing the help loads no testcontainers.
 */

/** The image `--target container` uses unless told otherwise: the production major, pinned here only. */
export const DEFAULT_POSTGRES_IMAGE = 'postgres:18.1';
