-- A room's state events in stream order, for the history visibility index
-- (RoomStateChanges): partial, so message events, the bulk of a timeline,
-- cost no extra B-tree insert. type_nid is included so that the scan
-- filters by type without reading the rows it skips.
CREATE INDEX events_room_state_pos ON events(room_nid, pos, type_nid) WHERE is_state=1;
