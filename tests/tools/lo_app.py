"""
lo_app.py - the small Flask application record_lo.sh serves under gunicorn on 127.0.0.1.

Endpoints (all JSON, deterministic content):
  GET  /api/users?page=N      list of users (Content-Length)
  GET  /api/users/<id>        one user; HEAD works too (Flask answers HEAD for GET routes)
  GET  /api/gzip?n=N          a gzip-compressed JSON body (Content-Encoding: gzip,
                              Content-Length of the compressed bytes)
  GET  /api/stream?n=N        N JSON lines streamed by a generator: chunked under HTTP/1.1,
                              close-delimited under HTTP/1.0
  POST /api/echo              201 with the length and SHA-256 of the request body
  PUT  /api/echo              same, 200 (used with a chunked request body)
  GET  /api/empty             204 No Content
  anything else               404 JSON
"""
import gzip
import hashlib
import json

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


def _user(uid):
    first = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Radia', 'Dennis', 'Margaret']
    last = ['Lovelace', 'Hopper', 'Torvalds', 'Liskov', 'Thompson', 'Perlman', 'Ritchie']
    f, l = first[uid % len(first)], last[uid % len(last)]
    return {'id': uid, 'name': f'{f} {l}', 'email': f'{f.lower()}.{l.lower()}@example.test',
            'roles': ['dev', 'ops', 'qa'][: 1 + uid % 3], 'active': uid % 4 != 0,
            'score': round((uid * 37.77) % 100, 2)}


@app.get('/api/users')
def users():
    page = request.args.get('page', 1, type=int)
    per = request.args.get('per_page', 20, type=int)
    items = [_user((page - 1) * per + i) for i in range(per)]
    return jsonify({'page': page, 'per_page': per, 'items': items})


@app.get('/api/users/<int:uid>')
def one_user(uid):
    return jsonify(_user(uid))


@app.get('/api/gzip')
def gz():
    n = request.args.get('n', 50, type=int)
    raw = json.dumps({'items': [_user(i) for i in range(n)]}).encode()
    body = gzip.compress(raw, mtime=0)
    return Response(body, status=200, headers={'Content-Encoding': 'gzip',
                                               'Content-Type': 'application/json',
                                               'Vary': 'Accept-Encoding'})


@app.get('/api/stream')
def stream():
    n = request.args.get('n', 10, type=int)

    def gen():
        for i in range(n):
            yield json.dumps({'event': 'tick', 'n': i, 'user': _user(i)}) + '\n'
    return Response(gen(), mimetype='application/x-ndjson')


@app.route('/api/echo', methods=['POST', 'PUT'])
def echo():
    data = request.get_data()
    code = 201 if request.method == 'POST' else 200
    return jsonify({'received': len(data), 'sha256': hashlib.sha256(data).hexdigest()}), code


@app.get('/api/empty')
def empty():
    return '', 204


@app.errorhandler(404)
def not_found(_e):
    return jsonify({'error': 'not found', 'path': request.path}), 404
