-- A first user; the semicolon inside the string stays part of the statement.
INSERT INTO users (id, email, name) VALUES (1, 'admin@example.com', 'Admin; the first user');
INSERT INTO posts (user_id, title, body) VALUES (1, 'Hello', 'Welcome to migrata.');
